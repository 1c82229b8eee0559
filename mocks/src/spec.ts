/**
 * What the mock upstreams are and how they behave, parsed once at the edge (a CLI flag, a JSON
 * body of `POST /__mock/config`) into typed values.
 */

export const MOCK_KINDS = ['llm', 'search', 'chat', 'trivial'] as const;
/**
 * llm: OpenAI-compatible `POST /v1/chat/completions` (JSON or SSE). search: `POST
 * /api/v1/retrieve` (vector or keyword flavour). chat: an echoing chat API on any path.
 * trivial: `200 ok` to anything, with minimal work (the benchmark's upstream).
 */
export type MockKind = (typeof MOCK_KINDS)[number];

export const SEARCH_FLAVORS = ['vector', 'keyword'] as const;
export type SearchFlavor = (typeof SEARCH_FLAVORS)[number];

/** How a mock answers; every field can be changed at run time with `POST /__mock/config`. */
export interface Behaviour {
  /** Fixed delay before the response starts (ms). */
  latencyMs: number;
  /** Extra delay, uniform in [0, jitterMs) (ms). */
  jitterMs: number;
  /** Share of requests answered with an injected error, 0..1. */
  errorRate: number;
  /** Statuses injected errors use, picked uniformly. */
  errorStatuses: number[];
  /** Whether `GET /healthz` answers 200 (true) or 503 (false). */
  healthy: boolean;
  /** Delay between the chunks of an SSE stream (llm), ms. */
  streamChunkDelayMs: number;
  /**
   * Requests served at once (0: no limit). The rest wait in the mock's own first-in first-out
   * queue, as a saturated server's do: with `latencyMs`, the capacity is concurrency / latency.
   */
  concurrency: number;
  /**
   * Honour `Idempotency-Key`: the first successful (2xx) answer to a key is kept (the last 200,000
   * keys) and given again to a request with the same key, without serving it again.
   */
  idempotency: boolean;
}

export const DEFAULT_BEHAVIOUR: Readonly<Behaviour> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  errorStatuses: [500, 503, 429],
  healthy: true,
  streamChunkDelayMs: 0,
  concurrency: 0,
  idempotency: false,
});

export interface MockDef extends Partial<Behaviour> {
  /** Unique name; sent back in the `x-mock-name` response header. */
  name: string;
  kind: MockKind;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (the kernel picks one). */
  port?: number;
  /** search only: default vector. */
  flavor?: SearchFlavor;
}

export interface MockSpec {
  mocks: MockDef[];
}

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(where: string, message: string): never {
  throw new Error(`${where}: ${message}`);
}

function num(where: string, value: Json, min: number, max: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(where, 'must be a number');
  if (integer && !Number.isInteger(value)) fail(where, 'must be an integer');
  if (value < min || value > max) fail(where, `must be between ${min} and ${max}`);
  return value;
}

const BEHAVIOUR_KEYS = Object.keys(DEFAULT_BEHAVIOUR) as (keyof Behaviour)[];

/** Validates a partial Behaviour (e.g. the body of `POST /__mock/config`); unknown keys are errors. */
export function parseBehaviourPatch(value: Json, where = 'config'): Partial<Behaviour> {
  if (!isRecord(value)) fail(where, 'must be a JSON object');
  const patch: Partial<Behaviour> = {};
  for (const [key, v] of Object.entries(value)) {
    const at = `${where}.${key}`;
    switch (key) {
      case 'latencyMs':
      case 'jitterMs':
      case 'streamChunkDelayMs':
        patch[key] = num(at, v, 0, 600_000);
        break;
      case 'errorRate':
        patch.errorRate = num(at, v, 0, 1);
        break;
      case 'errorStatuses': {
        if (!Array.isArray(v) || v.length === 0 || v.length > 16) fail(at, 'must be a list of 1 to 16 statuses');
        patch.errorStatuses = v.map((s, i) => num(`${at}[${i}]`, s, 400, 599, true));
        break;
      }
      case 'concurrency':
        patch.concurrency = num(at, v, 0, 100_000, true);
        break;
      case 'healthy':
      case 'idempotency':
        if (typeof v !== 'boolean') fail(at, 'must be true or false');
        patch[key] = v;
        break;
      default:
        fail(at, `unknown field (known: ${BEHAVIOUR_KEYS.join(', ')})`);
    }
  }
  return patch;
}

function parseDef(value: Json, where: string): MockDef {
  if (!isRecord(value)) fail(where, 'must be a JSON object');
  const { name, kind, host, port, flavor, ...rest } = value;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,63}$/.test(name)) fail(`${where}.name`, 'must be 1-63 characters of [A-Za-z0-9._-]');
  if (typeof kind !== 'string' || !(MOCK_KINDS as readonly string[]).includes(kind)) {
    fail(`${where}.kind`, `must be one of ${MOCK_KINDS.join(', ')}`);
  }
  const def: MockDef = { name, kind: kind as MockKind, ...parseBehaviourPatch(rest, where) };
  if (host !== undefined) {
    if (typeof host !== 'string' || host === '') fail(`${where}.host`, 'must be a non-empty string');
    def.host = host;
  }
  if (port !== undefined) def.port = num(`${where}.port`, port, 0, 65_535, true);
  if (flavor !== undefined) {
    if (kind !== 'search') fail(`${where}.flavor`, 'applies only to kind search');
    if (typeof flavor !== 'string' || !(SEARCH_FLAVORS as readonly string[]).includes(flavor)) {
      fail(`${where}.flavor`, `must be one of ${SEARCH_FLAVORS.join(', ')}`);
    }
    def.flavor = flavor as SearchFlavor;
  }
  return def;
}

/** Parses a spec: `{"mocks": [MockDef, ...]}` or just the list, as JSON text or a parsed value. */
export function parseSpec(input: string | Json): MockSpec {
  let value: Json = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input) as Json;
    } catch (err) {
      fail('spec', `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  const list = Array.isArray(value) ? value : isRecord(value) ? value['mocks'] : undefined;
  if (!Array.isArray(list) || list.length === 0) fail('spec', 'must be a non-empty list of mocks, or {"mocks": [...]}');
  const mocks = list.map((d, i) => parseDef(d, `mocks[${i}]`));
  const seen = new Set<string>();
  for (const m of mocks) {
    if (seen.has(m.name)) fail('spec', `duplicate mock name ${m.name}`);
    seen.add(m.name);
  }
  return { mocks };
}

/** The behaviour a def starts with: the defaults overlaid with the def's own fields. */
export function initialBehaviour(def: MockDef): Behaviour {
  const b: Behaviour = { ...DEFAULT_BEHAVIOUR, errorStatuses: [...DEFAULT_BEHAVIOUR.errorStatuses] };
  for (const key of BEHAVIOUR_KEYS) {
    const v = def[key];
    if (v !== undefined) Object.assign(b, { [key]: Array.isArray(v) ? [...v] : v });
  }
  return b;
}
