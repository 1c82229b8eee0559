/**
 * The demo's live summary: outcomes counted by route, status, limit level and serving backend,
 * rendered as a few readable lines. Pure: fed with outcomes and the gateway's hot keys.
 */

export interface Outcome {
  route: string;
  /** HTTP status, or 0 when no response came (connection error, timeout). */
  status: number;
  /** For 429s: the policy/level that rejected. */
  level?: string;
  /** The mock that answered (`x-mock-name`). */
  servedBy?: string;
  /** Feature toggles the backend was told about (`x-jarvis-features`). */
  features?: string;
}

interface RouteCounts {
  total: number;
  byStatus: Map<number, number>;
  /** 429s by the level that rejected. */
  levels: Map<string, number>;
  servedBy: Map<string, number>;
  features: string | undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Which limit rejected a 429: from the problem+json body (`levels[]` with policy and level, or
 * `violated-policies`), else from the IETF `RateLimit` field (the entries with `r=0`).
 */
export function rejectedLevel(body: string, rateLimitHeader: string | undefined): string {
  try {
    const problem: unknown = JSON.parse(body);
    if (isRecord(problem)) {
      const levels = problem['levels'];
      if (Array.isArray(levels) && levels.length > 0) {
        const names = levels.flatMap((l) =>
          isRecord(l) && typeof l['level'] === 'string'
            ? [typeof l['policy'] === 'string' ? `${l['policy']}/${l['level']}` : l['level']]
            : [],
        );
        if (names.length > 0) return names.join('+');
      }
      const violated = problem['violated-policies'];
      if (Array.isArray(violated) && violated.length > 0)
        return violated.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('+');
    }
  } catch {
    // not JSON: try the header
  }
  if (rateLimitHeader) {
    const exhausted = rateLimitHeader
      .split(',')
      .map((item) => item.trim())
      .filter((item) => /;\s*r=0(\s*;|$)/.test(item))
      .map((item) => item.split(';')[0]?.replace(/"/g, '') ?? '');
    if (exhausted.length > 0) return exhausted.join('+');
  }
  return 'unknown';
}

export class DemoSummary {
  readonly #routes = new Map<string, RouteCounts>();
  readonly #levels = new Map<string, number>();
  #total = 0;
  #lastTotal = 0;

  record(o: Outcome): void {
    this.#total++;
    let r = this.#routes.get(o.route);
    if (!r) {
      r = { total: 0, byStatus: new Map(), levels: new Map(), servedBy: new Map(), features: undefined };
      this.#routes.set(o.route, r);
    }
    r.total++;
    r.byStatus.set(o.status, (r.byStatus.get(o.status) ?? 0) + 1);
    if (o.servedBy !== undefined) r.servedBy.set(o.servedBy, (r.servedBy.get(o.servedBy) ?? 0) + 1);
    if (o.features !== undefined) r.features = o.features;
    if (o.status === 429) {
      const level = o.level ?? 'unknown';
      this.#levels.set(level, (this.#levels.get(level) ?? 0) + 1);
      r.levels.set(level, (r.levels.get(level) ?? 0) + 1);
    }
  }

  get total(): number {
    return this.#total;
  }

  /** Everything counted so far, by route: statuses (0: no response) and 429s by the level that rejected. */
  counts(): { routes: Record<string, { statuses: Record<string, number>; rejectedBy: Record<string, number> }> } {
    const routes: Record<string, { statuses: Record<string, number>; rejectedBy: Record<string, number> }> = {};
    for (const [name, r] of [...this.#routes].sort((a, b) => a[0].localeCompare(b[0])))
      routes[name] = {
        statuses: Object.fromEntries([...r.byStatus].sort((a, b) => a[0] - b[0]).map(([s, c]) => [String(s), c])),
        rejectedBy: Object.fromEntries([...r.levels].sort((a, b) => b[1] - a[1])),
      };
    return { routes };
  }

  /** Lines for one report; `intervalS` is the time since the last one. */
  render(elapsedS: number, intervalS: number, hotkeys: string[]): string[] {
    const count = (pred: (s: number) => boolean): number => {
      let n = 0;
      for (const r of this.#routes.values()) for (const [s, c] of r.byStatus) if (pred(s)) n += c;
      return n;
    };
    const rate = (this.#total - this.#lastTotal) / Math.max(intervalS, 0.001);
    this.#lastTotal = this.#total;
    const mmss = `${String(Math.floor(elapsedS / 60)).padStart(2, '0')}:${String(Math.floor(elapsedS % 60)).padStart(2, '0')}`;
    const lines = [
      `── ${mmss} ── requests ${this.#total} (${rate.toFixed(0)}/s)  2xx ${count((s) => s >= 200 && s < 300)}  429 ${count((s) => s === 429)}  ` +
        `5xx ${count((s) => s >= 500)}  other ${count((s) => s !== 429 && (s < 200 || (s >= 300 && s < 500)) && s !== 0)}  no response ${count((s) => s === 0)}`,
    ];
    for (const [name, r] of [...this.#routes].sort((a, b) => a[0].localeCompare(b[0]))) {
      const statuses = [...r.byStatus]
        .sort((a, b) => a[0] - b[0])
        .map(([s, c]) => `${s === 0 ? 'none' : s} ${c}`)
        .join(', ');
      const served = [...r.servedBy]
        .sort((a, b) => b[1] - a[1])
        .map(([n, c]) => `${n} ${c}`)
        .join(', ');
      lines.push(
        `   ${name.padEnd(12)} ${String(r.total).padStart(6)}  [${statuses}]${served ? `  served by ${served}` : ''}${r.features !== undefined ? `  features: ${r.features || '(none)'}` : ''}`,
      );
    }
    if (this.#levels.size > 0) {
      const levels = [...this.#levels].sort((a, b) => b[1] - a[1]).map(([l, c]) => `${l} ${c}`);
      lines.push(`   429 by level: ${levels.join(' · ')}`);
    }
    lines.push(`   hot keys: ${hotkeys.length === 0 ? '(none)' : hotkeys[0]}`, ...hotkeys.slice(1).map((h) => `             ${h}`));
    return lines;
  }
}

function scalarFields(v: Record<string, unknown>): string {
  return Object.entries(v)
    .filter(([, x]) => x === null || typeof x !== 'object')
    .slice(0, 6)
    .map(([k, x]) => `${k}=${typeof x === 'number' && !Number.isInteger(x) ? x.toFixed(2) : String(x)}`)
    .join(' ');
}

function compact(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.slice(0, 5).map(compact).join(', ') + (v.length > 5 ? `, … (${v.length})` : '');
  if (isRecord(v)) return scalarFields(v) || JSON.stringify(v);
  return String(v);
}

interface HotEntry {
  routeId: string;
  parameter: string;
  value: string;
  share: number | undefined;
  hot: boolean;
}

function hotEntry(v: unknown): HotEntry | undefined {
  if (!isRecord(v) || typeof v['parameter'] !== 'string' || typeof v['value'] !== 'string') return undefined;
  return {
    routeId: typeof v['routeId'] === 'string' ? v['routeId'] : '',
    parameter: v['parameter'],
    value: v['value'],
    share: typeof v['share'] === 'number' ? v['share'] : undefined,
    hot: v['hot'] === true,
  };
}

/**
 * A value's share of its route's traffic, as a percentage. The route's own entry (parameter
 * Route, from surge detection) carries its current rate over its baseline instead: "at 1.04×
 * baseline", not "104%".
 */
function shareText(e: HotEntry): string {
  if (e.share === undefined) return '';
  return e.parameter === 'Route' ? ` at ${e.share.toFixed(2)}× baseline` : ` ${Math.round(e.share * 100)}%`;
}

/** `{routeId, parameter, value, share, hot}` entries: one line per route and parameter, values by share. */
function groupedHotkeys(entries: HotEntry[]): string[] {
  const groups = new Map<string, HotEntry[]>();
  for (const e of entries) {
    const key = `${e.routeId} ${e.parameter}`.trim();
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups].map(
    ([key, list]) =>
      `${key}: ` +
      list
        .sort((a, b) => (b.share ?? 0) - (a.share ?? 0))
        .slice(0, 5)
        .map((e) => `${e.value}${shareText(e)}${e.hot ? ' HOT' : ''}`)
        .join(', '),
  );
}

/** The gateway's `/admin/hotkeys` answer (whatever its exact shape) as at most `max` short lines. */
export function renderHotkeys(value: unknown, max = 8, width = 140): string[] {
  let lines: string[];
  const entries = Array.isArray(value) ? value.map(hotEntry) : [];
  if (entries.length > 0 && entries.every((e) => e !== undefined)) lines = groupedHotkeys(entries as HotEntry[]);
  else if (Array.isArray(value)) lines = value.map(compact);
  else if (isRecord(value)) {
    lines = [];
    for (const [k, v] of Object.entries(value)) {
      if (Array.isArray(v) && v.length === 0) continue;
      if (isRecord(v) && !Object.values(v).some((x) => x === null || typeof x !== 'object')) {
        for (const [k2, v2] of Object.entries(v)) if (!(Array.isArray(v2) && v2.length === 0)) lines.push(`${k}/${k2}: ${compact(v2)}`);
      } else lines.push(`${k}: ${compact(v)}`);
    }
  } else lines = value === undefined || value === null ? [] : [String(value)];
  return lines.slice(0, max).map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
}
