/**
 * compileRouteLimiter: a route's RateLimitIR compiled once at config load into a checker that,
 * per request, picks the levels that apply (`when`), resolves their keys, costs and tenant
 * overrides, adds the hotspot level for hot values, and asks the store about all of them in one
 * call (all or nothing). When the route's store is Redis and Redis is missing, down or slower
 * than the policy's timeout, the failure mode applies: Open admits, Closed rejects (the pipeline
 * answers 503), Local limits in process with every limit divided by the expected replicas. Each
 * check tries Redis again (a disconnected client fails at once), so distributed limiting resumes
 * by itself when Redis is back.
 */
import type { RateLimitIR, RateLimitLevelIR } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import { compileWhen } from './conditions.js';
import { ANONYMOUS_PART, DEFAULT_HASH_TAG, KEY_PART_SEPARATOR, compactHead, keyHead, keyPart, keyPartFor } from './keys.js';
import {
  ALG,
  type ActiveMode,
  type DecisionSink,
  type AlgCode,
  type LevelResult,
  type LimitAdjust,
  type LimitDecision,
  type LimitOp,
  type LlmUsage,
  type Reservation,
  type Settlement,
  type LimitRequest,
  type LimitStores,
  type OpOutcome,
  type RouteLimiter,
  type StoreResult,
  type StoreSink,
} from './types.js';

export type LlmTokenKind = 'Input' | 'Output' | 'Total';

export interface LimiterDeps {
  stores: LimitStores;
  clock: Clock;
  onDecision?: (d: LimitDecision) => void;
  /** Called when the route's active mode changes (e.g. redis → local → redis), for the metric. */
  onModeChange?: (mode: ActiveMode, previous: ActiveMode, policies: RateLimitIR['policies']) => void;
  /**
   * LLM token estimate of a request (cost type LlmTokens); by default the body stage's estimate
   * in `LimitRequest.llmTokens`. A request without one costs 1.
   */
  llmTokens?: (req: LimitRequest, kind: LlmTokenKind) => number | undefined;
  /** Redis Cluster hash tag of the keys: one value for every route of a store (see keys.ts). */
  hashTag?: string;
  /**
   * A reservation was settled (for the metrics): once its correction is applied — or `failed`
   * when Redis did not take it (out or slow; the reservation stands).
   */
  onSettled?: (s: Settlement) => void;
}

interface Rate {
  readonly limit: number;
  readonly periodMs: number;
  readonly burst: number;
}

interface CompiledLevel extends Rate {
  readonly name: string;
  readonly policy: string;
  readonly alg: AlgCode;
  readonly shadow: boolean;
  readonly maxWaitMs: number;
  readonly head: string;
  /** The key parts, in order; empty: one counter ('*'). */
  readonly parts: readonly CompiledPart[];
  readonly onMissing: 'Anonymous' | 'Skip' | 'Reject';
  readonly cost: (req: LimitRequest, capacity: number) => number;
  /** Cost LlmTokens: which tokens the level counts (its charges are settled from the answer's usage). */
  readonly tokens: LlmTokenKind | undefined;
  /** undefined: the level counts every request. */
  readonly when: ((req: LimitRequest) => boolean) | undefined;
  /** Tenant → rate (tenantOverrides), before plans. */
  readonly overrides: ReadonlyMap<string, Rate> | undefined;
  readonly planClaim: string | undefined;
  readonly plans: ReadonlyMap<string, Rate> | undefined;
  /** The key of the level's last request (see `keyOf`), and its op. */
  readonly last: LastKey;
  /** The key of a level without key parts (one counter): made once. */
  readonly whole: string;
}

/**
 * A level's last value and the counter key made of it. A level keyed by one value often sees
 * the same one again on the next request (a Route level always does; a tenant's or a client's
 * requests come in runs): then its key part (the check of the value's characters, or its digest)
 * and the key are not made again, and the store is handed the same string, already flat and
 * hashed. A different value costs one string comparison more. Credentials are not kept (keyOf).
 */
interface LastKey {
  value: string;
  key: string;
  /**
   * The level's last op and owner: the next request of the same key, rate and cost gets the same
   * objects (they are never changed), not four new ones per level.
   */
  op: LimitOp | undefined;
  applied: Applied | undefined;
}

/** A level's memo, empty. */
const noLastKey = (): LastKey => ({ value: '', key: '', op: undefined, applied: undefined });

/** One key part of a level. */
interface CompiledPart {
  /** For the problem of a request refused for lack of it: `Tenant`, `Header x-org`. */
  readonly label: string;
  /** The request's value(s); undefined or empty: missing. Only Service has several. */
  readonly values: (req: LimitRequest) => string | readonly string[] | undefined;
  /** A value's bounded form in the key (a credential's digest for a credential-like name). */
  readonly part: (value: string) => string;
}

/** A decision that waits for Redis, as a promise (RouteLimiter.check); made only when it waits. */
class Later implements DecisionSink<LimitRequest> {
  #resolve: ((d: LimitDecision) => void) | undefined;
  #reject: ((err: Error) => void) | undefined;
  promise(): Promise<LimitDecision> {
    return new Promise<LimitDecision>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }
  decided(_req: LimitRequest, d: LimitDecision): void {
    this.#resolve?.(d);
  }
  failed(_req: LimitRequest, err: unknown): void {
    this.#reject?.(err instanceof Error ? err : new Error(String(err)));
  }
}

/** Capacity a request can take at most: the largest cost that can ever be admitted. */
function capacity(alg: AlgCode, r: Rate): number {
  return alg === ALG.TokenBucket || alg === ALG.GCRA ? r.burst : r.limit;
}

function positiveInt(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 1 ? Math.floor(v) : undefined;
}

/**
 * The body stage's estimate (inspect/llm.ts): prompt tokens in, the request's ceiling out — or
 * `defaultOutput` when the request sets none (never 0: leaving the field out must not bypass an
 * output budget).
 */
function bodyEstimate(req: LimitRequest, kind: LlmTokenKind, defaultOutput: number): number | undefined {
  const t = req.llmTokens;
  if (!t) return undefined;
  const output = t.output > 0 ? t.output : defaultOutput;
  return kind === 'Input' ? t.input : kind === 'Output' ? output : t.input + output;
}

function compileCost(level: RateLimitLevelIR, deps: LimiterDeps): (req: LimitRequest, cap: number) => number {
  const cost = level.cost;
  switch (cost.type) {
    case 'Fixed': {
      const amount = cost.amount;
      return () => amount;
    }
    case 'Header': {
      const header = cost.header.toLowerCase();
      // A header's cost is whole units ≥ 1, capped at the level's capacity; absent or not a number: 1.
      return (req, cap) => {
        const raw = req.header(header);
        const v = raw !== undefined && /^\s*\d{1,15}\s*$/.test(raw) ? positiveInt(Number(raw)) : undefined;
        return v === undefined ? 1 : Math.min(v, cap);
      };
    }
    case 'LlmTokens': {
      const kind = cost.tokens;
      const defaultOutput = cost.defaultOutputTokens;
      const estimate = deps.llmTokens ?? ((req: LimitRequest, k: LlmTokenKind) => bodyEstimate(req, k, defaultOutput));
      return (req, cap) => {
        const v = positiveInt(estimate(req, kind));
        return v === undefined ? 1 : Math.min(v, cap);
      };
    }
  }
}

const SCOPE_LETTER = {
  ClientIP: 'I',
  User: 'U',
  Tenant: 'T',
  Model: 'M',
  Route: 'R',
  Service: 'S',
  Header: 'H',
  Claim: 'C',
  QueryParam: 'Q',
  Path: 'P',
} as const satisfies Record<KeyPartType, string>;

type KeyPartType = RateLimitLevelIR['key'][number]['type'];

function compilePart(p: RateLimitLevelIR['key'][number], level: string): CompiledPart {
  const label = p.name !== undefined ? `${p.type} ${p.name}` : p.type;
  switch (p.type) {
    case 'Route':
      return { label, values: (req) => req.routeId, part: keyPart };
    case 'Service':
      return { label, values: (req) => req.serviceIds, part: keyPart };
    case 'ClientIP':
      return { label, values: (req) => req.clientIp || undefined, part: keyPart };
    case 'User':
      return { label, values: (req) => req.user || undefined, part: keyPart };
    case 'Tenant':
      return { label, values: (req) => req.tenant || undefined, part: keyPart };
    case 'Model':
      return { label, values: (req) => req.llmModel || undefined, part: keyPart };
    case 'Path':
      return { label, values: (req) => req.path || undefined, part: keyPart };
    case 'Header': {
      const header = (p.name ?? '').toLowerCase();
      if (!header) throw new Error(`rate-limit level ${level}: a Header key part needs a name`);
      return { label, values: (req) => req.header(header) || undefined, part: keyPartFor(header) };
    }
    case 'QueryParam': {
      const name = p.name ?? '';
      if (!name) throw new Error(`rate-limit level ${level}: a QueryParam key part needs a name`);
      return { label, values: (req) => req.queryParam(name) || undefined, part: keyPartFor(name) };
    }
    case 'Claim': {
      const claim = p.name ?? '';
      if (!claim) throw new Error(`rate-limit level ${level}: a Claim key part needs a name`);
      return { label, values: (req) => req.claim(claim) || undefined, part: keyPart };
    }
  }
}

/** A counter's key head for the store the route uses (see keys.ts). */
type HeadOf = (counter: string, alg: AlgCode, scopeLetter: string) => string;

function rateMap(
  entries: readonly { readonly limit: number; readonly periodMs: number; readonly burst?: number }[],
  names: (i: number) => readonly string[],
) {
  const out = new Map<string, Rate>();
  entries.forEach((o, i) => {
    const rate = { limit: o.limit, periodMs: o.periodMs, burst: o.burst ?? o.limit };
    for (const n of names(i)) if (!out.has(n)) out.set(n, rate);
  });
  return out;
}

function compileLevel(level: RateLimitLevelIR, headOf: HeadOf, deps: LimiterDeps): CompiledLevel {
  const alg = ALG[level.algorithm];
  const overrides = rateMap(level.tenantOverrides, (i) => level.tenantOverrides[i]!.tenants);
  const plans = rateMap(level.plans, (i) => [level.plans[i]!.name]);
  const shadow = level.mode === 'Shadow';
  const letters = level.key.length === 0 ? 'G' : level.key.map((p) => SCOPE_LETTER[p.type]).join('');
  const head = headOf(level.counter, alg, letters);
  return {
    name: level.name,
    policy: `${level.source.namespace}/${level.source.name}`,
    alg,
    limit: level.limit,
    periodMs: level.periodMs,
    burst: level.burst ?? level.limit,
    shadow,
    // Shadow levels never delay either; Wait is a GCRA (leaky bucket as a queue) action.
    maxWaitMs: !shadow && level.action.type === 'Wait' && alg === ALG.GCRA ? level.action.maxWaitMs : -1,
    head,
    whole: head + '*',
    parts: level.key.map((p) => compilePart(p, level.name)),
    onMissing: level.onMissingKey,
    cost: compileCost(level, deps),
    tokens: level.cost.type === 'LlmTokens' ? level.cost.tokens : undefined,
    when: compileWhen(level.when, `rate-limit level ${level.name}: when`),
    overrides: level.key.some((p) => p.type === 'Tenant') && overrides.size > 0 ? overrides : undefined,
    planClaim: plans.size > 0 ? level.planClaim : undefined,
    plans: plans.size > 0 ? plans : undefined,
    last: noLastKey(),
  };
}

/** The counter key of a single-valued level for `value` (a non-empty string): the last one again when the value is. */
function keyOf(level: CompiledLevel, part: CompiledPart, value: string): string {
  // A credential (keyPartFor) is known by its digest only: its value is not kept past its request.
  if (part.part !== keyPart) return level.head + part.part(value);
  const last = level.last;
  if (last.value !== value) {
    last.key = level.head + part.part(value);
    last.value = value;
  }
  return last.key;
}

/** The rate of a level for this request: a tenant override, else the caller's plan, else the level's. */
function rateFor(level: CompiledLevel, req: LimitRequest): Rate {
  if (level.overrides && req.tenant !== undefined) {
    const o = level.overrides.get(req.tenant);
    if (o) return o;
  }
  if (level.plans && level.planClaim !== undefined) {
    const plan = req.claim(level.planClaim);
    if (plan !== undefined) {
      const p = level.plans.get(plan);
      if (p) return p;
    }
  }
  return level;
}

/** A level that refuses a request for lack of a key part (Reject): its result. */
function refusedForMissingKey(level: CompiledLevel, shadow: boolean): LevelResult {
  return {
    name: level.name,
    policy: level.policy,
    limit: level.limit,
    periodMs: level.periodMs,
    remaining: 0,
    resetSec: 0,
    allowed: false,
    shadow,
  };
}

interface Missing {
  readonly level: CompiledLevel;
  /** The part without a value, e.g. `Tenant` or `Header x-org`. */
  readonly part: string;
}

/** The distinct key parts of a multi-valued attribute (a route's Services). */
function distinctParts(values: readonly string[], p: CompiledPart): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!v) continue;
    const k = p.part(v);
    if (!out.includes(k)) out.push(k);
  }
  return out;
}

/**
 * A limit (or burst) in Local mode: this replica's share when `replicas` gateways each limit on
 * their own — at least 1, so a level never rejects everything.
 */
export function localShare(n: number, replicas: number): number {
  return Math.max(1, Math.floor(n / Math.max(1, replicas)));
}

/**
 * The mode a route's limiter starts in: its store, or — when the route wants Redis and Redis is
 * missing or not ready (at start, or a config change during an outage) — the failure mode its
 * checks will run in.
 */
export function initialMode(ir: RateLimitIR, stores: LimitStores): ActiveMode {
  if (ir.store !== 'Redis') return 'memory';
  if (stores.redis?.ready()) return 'redis';
  const m = ir.failureMode.mode;
  return m === 'Open' ? 'open' : m === 'Closed' ? 'closed' : 'local';
}

/** A period in whole seconds, rounded up (at least 1): how long a level that can never admit a request asks to wait. */
function windowSec(periodMs: number): number {
  return Math.max(1, Math.ceil(periodMs / 1000));
}

function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

interface Applied {
  readonly level: CompiledLevel;
  readonly rate: Rate;
}

export function compileRouteLimiter(ir: RateLimitIR, deps: LimiterDeps): RouteLimiter {
  const tag = deps.hashTag ?? DEFAULT_HASH_TAG;
  const useRedis = ir.store === 'Redis';
  // Redis keys are readable and hash-tagged; in-memory keys only need to be short.
  const headOf: HeadOf = (counter, alg, scopeLetter) => {
    const head = keyHead(tag, counter, alg, scopeLetter);
    return useRedis ? head : compactHead(head);
  };
  const levels = ir.levels.map((l) => compileLevel(l, headOf, deps));
  const { memory, redis } = deps.stores;
  const failure = ir.failureMode;
  const replicas = Math.max(1, failure.expectedReplicas);
  const timeoutMs = failure.timeoutMs > 0 ? failure.timeoutMs : undefined;

  // The hotspot level: a stricter limit per hot value, one counter per parameter.
  const hot = ir.hotspot;
  const hotPolicy = hot ? `${hot.source.namespace}/${hot.source.name}` : '';
  const hotAlg = hot ? ALG[hot.limit.algorithm] : ALG.TokenBucket;
  const hotRate: Rate | undefined = hot
    ? { limit: hot.limit.limit, periodMs: hot.limit.periodMs, burst: hot.limit.burst ?? hot.limit.limit }
    : undefined;
  const hotHeads = new Map<string, CompiledLevel>();
  const hotLevel = (parameter: string): CompiledLevel | undefined => {
    if (!hot || !hotRate) return undefined;
    let l = hotHeads.get(parameter);
    if (!l) {
      if (hotHeads.size >= 64) return undefined; // parameters come from config; bound anyway
      const hotHead = headOf(`${hotPolicy}/hotspot/${parameter}`, hotAlg, 'X');
      l = {
        name: `hotspot:${parameter}`,
        policy: hotPolicy,
        alg: hotAlg,
        ...hotRate,
        shadow: hot.mode === 'Shadow',
        maxWaitMs: -1,
        head: hotHead,
        whole: hotHead + '*',
        parts: [],
        onMissing: 'Skip',
        cost: () => 1,
        tokens: undefined,
        when: undefined,
        overrides: undefined,
        planClaim: undefined,
        plans: undefined,
        last: noLastKey(),
      };
      hotHeads.set(parameter, l);
    }
    return l;
  };

  let active: ActiveMode = initialMode(ir, deps.stores);
  function setMode(m: ActiveMode): void {
    if (m === active) return;
    const previous = active;
    active = m;
    deps.onModeChange?.(m, previous, ir.policies);
  }

  /**
   * The ops of a request (and, for shadow levels that would refuse it for a missing key, a result
   * each in `notes`). Returns the level and part that refuse the request for a missing key, if any:
   * then nothing is counted.
   */
  function build(req: LimitRequest, ops: LimitOp[], owners: Applied[], notes: LevelResult[]): Missing | undefined {
    let level!: CompiledLevel;
    let rate!: Rate;
    let cost = 0;
    const push = (suffix: string): void => pushKey(level.head + suffix);
    const pushKey = (key: string): void => {
      const last = level.last;
      let op = last.op;
      if (op === undefined || op.key !== key || op.spec !== rate || op.cost !== cost) {
        op = {
          key,
          alg: level.alg,
          limit: rate.limit,
          periodMs: rate.periodMs,
          burst: rate.burst,
          cost,
          shadow: level.shadow,
          maxWaitMs: level.maxWaitMs,
          spec: rate, // the level itself, or an override or plan object of this level only
        };
        last.op = op;
      }
      ops.push(op);
      let owner = last.applied;
      if (owner === undefined || owner.rate !== rate) last.applied = owner = { level, rate };
      owners.push(owner);
    };
    for (level of levels) {
      if (level.when !== undefined && !level.when(req)) continue;
      const parts = level.parts;
      let suffixes: string | readonly string[] | undefined;
      let missing: CompiledPart | undefined;
      let single: string | undefined;
      if (parts.length === 0) single = level.whole;
      else if (parts.length === 1) {
        const p = parts[0] as CompiledPart;
        const v = p.values(req);
        if (v === undefined || v.length === 0) missing = p;
        else if (typeof v === 'string') single = keyOf(level, p, v);
        else suffixes = distinctParts(v, p);
      } else {
        // One string while every part has one value; a list only once a part (Service) has several.
        let key = '';
        let keys: string[] | undefined;
        for (let i = 0; i < parts.length; i++) {
          const p = parts[i] as CompiledPart;
          const v = p.values(req);
          const sep = i === 0 ? '' : KEY_PART_SEPARATOR;
          if (v === undefined || v.length === 0) {
            missing ??= p;
            if (keys) keys = keys.map((k) => k + sep + ANONYMOUS_PART);
            else key += sep + ANONYMOUS_PART;
          } else if (typeof v === 'string') {
            const piece = p.part(v);
            if (keys) keys = keys.map((k) => k + sep + piece);
            else key += sep + piece;
          } else {
            const pieces = distinctParts(v, p);
            keys = (keys ?? [key]).flatMap((k) => pieces.map((x) => k + sep + x));
          }
        }
        suffixes = keys ?? key;
      }
      if (missing !== undefined) {
        if (level.onMissing === 'Skip') continue;
        if (level.onMissing === 'Reject') {
          if (!level.shadow) return { level, part: missing.label };
          notes.push(refusedForMissingKey(level, true));
          continue;
        }
        if (parts.length === 1) suffixes = ANONYMOUS_PART;
      }
      rate = rateFor(level, req);
      cost = level.cost(req, capacity(level.alg, rate));
      if (single !== undefined) pushKey(single);
      else if (typeof suffixes === 'string') push(suffixes);
      else if (suffixes !== undefined) for (const k of suffixes) push(k);
    }
    for (const h of req.hot) {
      const hl = h.value ? hotLevel(h.parameter) : undefined;
      if (!hl) continue;
      level = hl;
      rate = hl;
      cost = 1;
      push(keyPart(h.value));
    }
    return undefined;
  }

  /** The level results of one check, merged per level (a Service level may have several ops). */
  function decide(
    owners: readonly Applied[],
    result: StoreResult,
    degraded: LimitDecision['degraded'],
    notes: readonly LevelResult[],
  ): LimitDecision {
    const levels: LevelResult[] = [];
    let retryAfterSec = 0;
    let last: Applied | undefined;
    let current: LevelResult | undefined;
    for (let i = 0; i < owners.length; i++) {
      const owner = owners[i] as Applied;
      const out = result.outcomes[i] as OpOutcome;
      const resetSec = out.allowed
        ? seconds(out.resetMs)
        : out.retryMs < 0
          ? windowSec(owner.rate.periodMs)
          : Math.max(1, seconds(out.retryMs));
      if (last && last.level === owner.level && current) {
        // Another value of the same level (a Service level over several services): keep the tightest.
        current.allowed &&= out.allowed;
        current.remaining = Math.min(current.remaining, out.remaining);
        current.resetSec = Math.max(current.resetSec, resetSec);
      } else {
        current = {
          name: owner.level.name,
          policy: owner.level.policy,
          limit: owner.rate.limit,
          periodMs: owner.rate.periodMs,
          remaining: out.remaining,
          resetSec,
          allowed: out.allowed,
          shadow: owner.level.shadow,
        };
        levels.push(current);
      }
      last = owner;
      if (!out.allowed && !owner.level.shadow) retryAfterSec = Math.max(retryAfterSec, current.resetSec);
    }
    for (const n of notes) levels.push(n);
    const d: LimitDecision = { allowed: result.allowed, levels };
    if (result.allowed && result.waitMs > 0) d.waitMs = result.waitMs;
    if (!result.allowed) d.retryAfterSec = Math.max(1, retryAfterSec);
    if (degraded) d.degraded = degraded;
    return d;
  }

  /** The ops at 1/replicas of their rate, on local keys; without `spec` (its numbers differ now). */
  function local(ops: readonly LimitOp[]): LimitOp[] {
    return ops.map((op) => ({
      key: 'local|' + op.key,
      alg: op.alg,
      limit: localShare(op.limit, replicas),
      periodMs: op.periodMs,
      burst: localShare(op.burst, replicas),
      cost: op.cost,
      shadow: op.shadow,
      maxWaitMs: op.maxWaitMs,
    }));
  }

  function degrade(req: LimitRequest, ops: readonly LimitOp[], owners: readonly Applied[], notes: readonly LevelResult[]): LimitDecision {
    switch (failure.mode) {
      case 'Open':
        setMode('open');
        return { allowed: true, levels: [], degraded: 'open' };
      case 'Closed':
        setMode('closed');
        return { allowed: false, levels: [], retryAfterSec: 1, degraded: 'closed' };
      case 'Local': {
        setMode('local');
        const localOps = local(ops);
        const localOwners = owners.map((o, i) => ({ level: o.level, rate: { ...o.rate, limit: (localOps[i] as LimitOp).limit } }));
        const result = memory.checkSync(localOps);
        return reserve(decide(localOwners, result, 'local', notes), req, localOps, owners, result, 'local');
      }
    }
  }

  const onDecision = deps.onDecision;
  const report = (d: LimitDecision): LimitDecision => {
    onDecision?.(d);
    return d;
  };

  const tokenLevels = levels.some((l) => l.tokens !== undefined);

  /**
   * An admitted request's LLM-token charges, to settle from the answer: the ops of LlmTokens
   * levels that were charged (a shadow op that would have refused was not), in the store that
   * charged them.
   */
  function reserve(
    d: LimitDecision,
    req: LimitRequest,
    ops: readonly LimitOp[],
    owners: readonly Applied[],
    result: StoreResult,
    store: Reservation['store'],
  ): LimitDecision {
    if (!tokenLevels || !result.allowed) return d;
    const items: { op: LimitOp; tokens: LlmTokenKind }[] = [];
    for (let i = 0; i < owners.length; i++) {
      const tokens = (owners[i] as Applied).level.tokens;
      if (tokens !== undefined && (result.outcomes[i] as OpOutcome).allowed) items.push({ op: ops[i] as LimitOp, tokens });
    }
    if (items.length > 0) d.reservation = { store, at: deps.clock.now(), input: req.llmTokens?.input ?? 0, items };
    return d;
  }

  /** A check that went to Redis: its decision when the store answers (or fails: the failure mode). */
  class Pending<R extends LimitRequest> implements StoreSink {
    constructor(
      readonly req: R,
      readonly ops: LimitOp[],
      readonly owners: Applied[],
      readonly notes: readonly LevelResult[],
      readonly sink: DecisionSink<R>,
    ) {}
    stored(result: StoreResult): void {
      this.#finish(result);
    }
    failed(): void {
      this.#finish(undefined);
    }
    /** Decides from the store's result (undefined: the store failed, the failure mode decides). */
    #finish(result: StoreResult | undefined): void {
      const { req, ops, owners, notes } = this;
      let d: LimitDecision;
      try {
        if (result === undefined) d = report(degrade(req, ops, owners, notes));
        else {
          setMode('redis');
          d = report(reserve(decide(owners, result, undefined, notes), req, ops, owners, result, 'redis'));
        }
      } catch (err) {
        this.sink.failed(req, err);
        return;
      }
      this.sink.decided(req, d);
    }
  }

  /** The decision now (memory, or Redis unusable), or undefined when the check went to Redis (then `sink` gets it). */
  function run<R extends LimitRequest>(
    req: R,
    ops: LimitOp[],
    owners: Applied[],
    notes: readonly LevelResult[],
    sink: DecisionSink<R>,
  ): LimitDecision | undefined {
    if (!useRedis) {
      const result = memory.checkSync(ops);
      return report(reserve(decide(owners, result, undefined, notes), req, ops, owners, result, 'memory'));
    }
    if (!redis || !redis.ready()) return report(degrade(req, ops, owners, notes));
    const pending = new Pending(req, ops, owners, notes, sink);
    if (redis.submit) redis.submit(ops, timeoutMs, pending);
    else
      redis.check(ops, timeoutMs).then(
        (result) => pending.stored(result),
        () => pending.failed(),
      );
    return undefined;
  }

  /**
   * The corrections of a reservation: per counter, what the answer's usage says it should have
   * cost minus what it reserved. Without an upstream answer the output part is refunded (no
   * completion was produced; the prompt estimate stays, it may have been processed).
   */
  function corrections(r: Reservation, usage: LlmUsage | 'unanswered', sinceMs: number): LimitAdjust[] {
    const out: LimitAdjust[] = [];
    for (const { op, tokens } of r.items) {
      let actual: number;
      if (usage === 'unanswered') actual = tokens === 'Output' ? 0 : tokens === 'Input' ? op.cost : Math.min(op.cost, r.input);
      else actual = tokens === 'Input' ? usage.input : tokens === 'Output' ? usage.output : usage.total;
      const delta = actual - op.cost;
      if (delta !== 0) out.push({ op, delta, sinceMs });
    }
    return out;
  }

  const onSettled = deps.onSettled;
  function settle(r: Reservation, usage: LlmUsage | 'missing' | 'unanswered'): Settlement {
    if (usage === 'missing') {
      const kept: Settlement = { outcome: 'missing', charged: 0, refunded: 0 };
      onSettled?.(kept);
      return kept;
    }
    const adjusts = corrections(r, usage, Math.max(0, deps.clock.now() - r.at));
    let charged = 0;
    let refunded = 0;
    for (const a of adjusts) {
      if (a.delta > 0) charged += a.delta;
      else refunded -= a.delta;
    }
    const settled: Settlement = { outcome: usage === 'unanswered' ? 'unanswered' : 'reconciled', charged, refunded };
    if (adjusts.length > 0 && r.store === 'redis') {
      // One more check in the store's batch, carrying every counter's correction.
      const failed: Settlement = { outcome: 'failed', charged: 0, refunded: 0 };
      if (!redis) onSettled?.(failed);
      else
        redis.adjust(adjusts, timeoutMs).then(
          () => onSettled?.(settled),
          () => onSettled?.(failed),
        );
      return settled;
    }
    if (adjusts.length > 0) memory.adjustSync(adjusts);
    onSettled?.(settled);
    return settled;
  }

  return {
    mode: () => active,
    settle,
    check(req) {
      const later = new Later();
      return checkInto(req, later) ?? later.promise();
    },
    checkInto,
  };

  function checkInto<R extends LimitRequest>(req: R, sink: DecisionSink<R>): LimitDecision | undefined {
    const ops: LimitOp[] = [];
    const owners: Applied[] = [];
    const notes: LevelResult[] = [];
    const missing = build(req, ops, owners, notes);
    if (missing !== undefined)
      return report({
        allowed: false,
        levels: [...notes, refusedForMissingKey(missing.level, false)],
        missingKey: { level: missing.level.name, policy: missing.level.policy, part: missing.part },
      });
    if (ops.length === 0) return report({ allowed: true, levels: notes });
    return run(req, ops, owners, notes, sink);
  }
}
