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
import { DEFAULT_HASH_TAG, compactHead, keyHead, keyPart, keyPartFor } from './keys.js';
import {
  ALG,
  type ActiveMode,
  type AlgCode,
  type LevelResult,
  type LimitDecision,
  type LimitOp,
  type LimitRequest,
  type LimitStores,
  type OpOutcome,
  type RouteLimiter,
  type StoreResult,
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
  /** A scope value's part of the key (a credential's digest for a credential-like header). */
  readonly part: (value: string) => string;
  /** Scope values of a request; undefined or empty: the level does not apply. */
  readonly values: (req: LimitRequest) => string | readonly string[] | undefined;
  readonly cost: (req: LimitRequest, capacity: number) => number;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly overrides: ReadonlyMap<string, Rate> | undefined;
}

const SCOPE_LETTER = { Global: 'G', Route: 'R', Service: 'S', ClientIP: 'I', User: 'U', Tenant: 'T', Header: 'H', Claim: 'C' } as const;

/** Capacity a request can take at most: the largest cost that can ever be admitted. */
function capacity(alg: AlgCode, r: Rate): number {
  return alg === ALG.TokenBucket || alg === ALG.GCRA ? r.burst : r.limit;
}

function positiveInt(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 1 ? Math.floor(v) : undefined;
}

/** The body stage's estimate (inspect/llm.ts): prompt tokens in, the request's ceiling out. */
function bodyEstimate(req: LimitRequest, kind: LlmTokenKind): number | undefined {
  const t = req.llmTokens;
  if (!t) return undefined;
  return kind === 'Input' ? t.input : kind === 'Output' ? t.output : t.input + t.output;
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
      const estimate = deps.llmTokens ?? bodyEstimate;
      return (req, cap) => {
        const v = positiveInt(estimate?.(req, kind));
        return v === undefined ? 1 : Math.min(v, cap);
      };
    }
  }
}

function compileValues(level: RateLimitLevelIR): CompiledLevel['values'] {
  switch (level.scope) {
    case 'Global':
      return () => '*';
    case 'Route':
      return (req) => req.routeId;
    case 'Service':
      return (req) => req.serviceIds;
    case 'ClientIP':
      return (req) => req.clientIp || undefined;
    case 'User':
      return (req) => req.user || undefined;
    case 'Tenant':
      return (req) => req.tenant || undefined;
    case 'Header': {
      const header = (level.header ?? '').toLowerCase();
      if (!header) throw new Error(`rate-limit level ${level.name}: Header scope needs a header`);
      return (req) => req.header(header) || undefined;
    }
    case 'Claim': {
      const claim = level.claim ?? '';
      if (!claim) throw new Error(`rate-limit level ${level.name}: Claim scope needs a claim`);
      return (req) => req.claim(claim) || undefined;
    }
  }
}

/** A counter's key head for the store the route uses (see keys.ts). */
type HeadOf = (counter: string, alg: AlgCode, scopeLetter: string) => string;

function compileLevel(level: RateLimitLevelIR, headOf: HeadOf, deps: LimiterDeps): CompiledLevel {
  const alg = ALG[level.algorithm];
  const overrides = new Map<string, Rate>();
  for (const o of level.tenantOverrides) {
    const rate = { limit: o.limit, periodMs: o.periodMs, burst: o.burst ?? o.limit };
    for (const t of o.tenants) if (!overrides.has(t)) overrides.set(t, rate);
  }
  const shadow = level.mode === 'Shadow';
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
    head: headOf(level.counter, alg, SCOPE_LETTER[level.scope]),
    part: keyPartFor(level.scope === 'Header' ? level.header : undefined),
    values: compileValues(level),
    cost: compileCost(level, deps),
    methods: level.methods.length > 0 ? new Set(level.methods.map((m) => m.toUpperCase())) : undefined,
    headers: level.headers.map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
    overrides: level.scope === 'Tenant' && overrides.size > 0 ? overrides : undefined,
  };
}

function applies(level: CompiledLevel, req: LimitRequest): boolean {
  if (level.methods && !level.methods.has(req.method.toUpperCase())) return false;
  for (const h of level.headers) if (req.header(h.name) !== h.value) return false;
  return true;
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
      l = {
        name: `hotspot:${parameter}`,
        policy: hotPolicy,
        alg: hotAlg,
        ...hotRate,
        shadow: hot.mode === 'Shadow',
        maxWaitMs: -1,
        head: headOf(`${hotPolicy}/hotspot/${parameter}`, hotAlg, 'X'),
        part: keyPart, // hot values arrive as their bounded keys (credentials as digests: hotspot/guard.ts)
        values: () => undefined,
        cost: () => 1,
        methods: undefined,
        headers: [],
        overrides: undefined,
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

  function build(req: LimitRequest, ops: LimitOp[], owners: Applied[]): void {
    const push = (level: CompiledLevel, rate: Rate, value: string, cost: number): void => {
      ops.push({
        key: level.head + level.part(value),
        alg: level.alg,
        limit: rate.limit,
        periodMs: rate.periodMs,
        burst: rate.burst,
        cost,
        shadow: level.shadow,
        maxWaitMs: level.maxWaitMs,
        spec: rate, // the level itself, or an override object of this level only
      });
      owners.push({ level, rate });
    };
    for (const level of levels) {
      if (!applies(level, req)) continue;
      const values = level.values(req);
      if (values === undefined || values.length === 0) continue;
      const rate = (level.overrides && req.tenant !== undefined && level.overrides.get(req.tenant)) || level;
      const cost = level.cost(req, capacity(level.alg, rate));
      if (typeof values === 'string') push(level, rate, values, cost);
      else {
        const seen = values.length > 1 ? new Set<string>() : undefined;
        for (const v of values) {
          if (!v || seen?.has(v)) continue;
          seen?.add(v);
          push(level, rate, v, cost);
        }
      }
    }
    for (const h of req.hot) {
      const level = h.value ? hotLevel(h.parameter) : undefined;
      if (level) push(level, level, h.value, 1);
    }
  }

  /** The level results of one check, merged per level (a Service level may have several ops). */
  function decide(owners: readonly Applied[], result: StoreResult, degraded: LimitDecision['degraded']): LimitDecision {
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

  function degrade(ops: readonly LimitOp[], owners: readonly Applied[]): LimitDecision {
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
        return decide(localOwners, memory.checkSync(localOps), 'local');
      }
    }
  }

  const onDecision = deps.onDecision;
  const report = (d: LimitDecision): LimitDecision => {
    onDecision?.(d);
    return d;
  };

  /** Synchronous unless the check goes to Redis; then one promise step, whatever the outcome. */
  function run(ops: LimitOp[], owners: Applied[]): LimitDecision | Promise<LimitDecision> {
    if (!useRedis) return report(decide(owners, memory.checkSync(ops), undefined));
    if (!redis || !redis.ready()) return report(degrade(ops, owners));
    return redis.check(ops, timeoutMs).then(
      (result) => {
        setMode('redis');
        return report(decide(owners, result, undefined));
      },
      () => report(degrade(ops, owners)),
    );
  }

  return {
    mode: () => active,
    check(req) {
      const ops: LimitOp[] = [];
      const owners: Applied[] = [];
      build(req, ops, owners);
      if (ops.length === 0) return report({ allowed: true, levels: [] });
      return run(ops, owners);
    },
  };
}
