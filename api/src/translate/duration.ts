/** GEP-2257 durations (`500ms`, `30s`, `1h30m`) to milliseconds. */
const PART = /([0-9]+)(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds of a duration the schema has validated; NaN for anything else. */
export function durationMs(value: string): number {
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(PART)) {
    if (m.index !== consumed) return NaN;
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? NaN);
    consumed += m[0].length;
  }
  return consumed === value.length && consumed > 0 ? total : NaN;
}
