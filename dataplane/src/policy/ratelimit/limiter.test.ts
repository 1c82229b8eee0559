import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '@jarvis/e2e/dist/envtest/ports.js';
import { ensureRedis } from '@jarvis/e2e/dist/redis/index.js';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RateLimitIR, RateLimitLevelIR } from '@jarvis/api';
import { ManualTime } from '../../clock.js';
import { rateLimitHeaders } from './headers.js';
import { compileRouteLimiter, type LimiterDeps } from './limiter.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import type { ActiveMode, DecisionSink, LimitDecision, LimitRequest, LimitStore, LimitStores } from './types.js';

type Scope = 'Global' | 'Route' | 'Service' | 'ClientIP' | 'User' | 'Tenant' | 'Header' | 'Claim';
/** A level, with the API's one-attribute `scope` (and `header`/`claim`) and `methods`/`headers` as shorthands. */
type Level = Partial<Omit<RateLimitLevelIR, 'name' | 'when'>> & {
  name: string;
  scope?: Scope;
  header?: string;
  claim?: string;
  methods?: string[];
  headers?: { name: string; value: string }[];
  when?: Partial<RateLimitLevelIR['when']>;
};

const source = { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'chat', generation: 1 } as const;

function keyOf(scope: Scope | undefined, header?: string, claim?: string): RateLimitLevelIR['key'] {
  if (scope === undefined || scope === 'Global') return [];
  if (scope === 'Header') return [{ type: 'Header', name: header ?? '' }];
  if (scope === 'Claim') return [{ type: 'Claim', name: claim ?? '' }];
  return [{ type: scope }];
}

function level(l: Level): RateLimitLevelIR {
  const { scope, header, claim, methods, headers, when, ...rest } = l;
  return {
    counter: `jarvis/chat/${l.name}`,
    key: keyOf(scope, header, claim),
    onMissingKey: 'Anonymous',
    algorithm: 'FixedWindow',
    limit: 3,
    periodMs: 1000,
    cost: { type: 'Fixed', amount: 1 },
    action: { type: 'Reject' },
    when: {
      methods: methods ?? [],
      headers: (headers ?? []).map((h) => ({ ...h, type: 'Exact' as const, invert: false })),
      queryParams: [],
      ...when,
    },
    tenantOverrides: [],
    plans: [],
    mode: 'Enforce',
    source,
    ...rest,
  };
}

function rateLimit(levels: Level[], extra: Partial<RateLimitIR> = {}): RateLimitIR {
  return {
    levels: levels.map(level),
    store: 'Memory',
    failureMode: { mode: 'Open', timeoutMs: 100, expectedReplicas: 1 },
    policies: [source],
    ...extra,
  };
}

function request(
  r: Partial<Omit<LimitRequest, 'header' | 'claim' | 'queryParam'>> & {
    headers?: Record<string, string>;
    claims?: Record<string, string>;
    query?: Record<string, string>;
  } = {},
): LimitRequest {
  const { headers = {}, claims = {}, query = {}, ...rest } = r;
  return {
    routeId: 'default/chat/0',
    serviceIds: ['default/llm:80'],
    clientIp: '10.0.0.1',
    method: 'POST',
    path: '/v1/chat/completions',
    hot: [],
    header: (n) => headers[n],
    claim: (n) => claims[n],
    queryParam: (n) => query[n],
    ...rest,
  };
}

/** Hot tenants get 2 per second. */
function tenantHotspot(mode: 'Enforce' | 'Shadow'): NonNullable<RateLimitIR['hotspot']> {
  return {
    parameters: [{ source: 'Tenant' }],
    windowMs: 10_000,
    topK: 10,
    minRequests: 10,
    activateSharePercent: 50,
    deactivateSharePercent: 20,
    cooldownMs: 1000,
    limit: { algorithm: 'TokenBucket', limit: 2, periodMs: 1000 },
    mode,
    source,
  };
}

function setup(ir: RateLimitIR, extra: Partial<LimiterDeps> = {}) {
  const time = new ManualTime();
  const stores: LimitStores = { memory: createMemoryStore({ clock: time, maxKeys: 10_000 }) };
  const decisions: LimitDecision[] = [];
  const limiter = compileRouteLimiter(ir, { stores, clock: time, onDecision: (d) => decisions.push(d), hashTag: randomUUID(), ...extra });
  const run = async (n: number, req: LimitRequest = request()) => {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push((await limiter.check(req)).allowed);
    return out;
  };
  return { time, stores, limiter, decisions, run };
}

describe('compileRouteLimiter', () => {
  it('keeps one counter per scope value', async () => {
    const { run } = setup(rateLimit([{ name: 'user', scope: 'User', limit: 2 }]));
    expect(await run(3, request({ user: 'ann' }))).toEqual([true, true, false]);
    expect(await run(3, request({ user: 'bob' }))).toEqual([true, true, false]);
  });

  it("counts each value on its own counter whatever the order of values: the last request's value, a new one, equal text in another string", async () => {
    const { run } = setup(rateLimit([{ name: 'user', scope: 'User', limit: 3 }]));
    const long = '\u00e9'.repeat(100); // kept as a digest in the key
    const users = ['ann', 'ann', 'bob', long, ['a', 'n', 'n'].join(''), 'bob', long, 'bob', 'ann', long, long, 'bob'];
    const allowed: boolean[] = [];
    for (const user of users) allowed.push(...(await run(1, request({ user }))));
    expect(allowed).toEqual([true, true, true, true, true, true, true, true, false, true, false, false]);
  });

  it('a credential-keyed level counts by the digest of each value, whatever their order', async () => {
    const { run, limiter } = setup(rateLimit([{ name: 'key', scope: 'Header', header: 'x-api-key', limit: 2 }]));
    const keys = ['k1', 'k1', 'k2', 'k1', 'k2', 'k2'];
    const allowed: boolean[] = [];
    for (const k of keys) allowed.push(...(await run(1, request({ headers: { 'x-api-key': k } }))));
    expect(allowed).toEqual([true, true, true, false, true, false]);
    expect((await limiter.check(request({ headers: { 'x-api-key': 'k3' } }))).allowed).toBe(true);
  });

  it('onMissingKey Anonymous (the default): requests without the key share one anonymous counter', async () => {
    const { run, limiter } = setup(rateLimit([{ name: 'user', scope: 'User', limit: 2 }]));
    expect(await run(3, request())).toEqual([true, true, false]);
    expect(await run(1, request({ clientIp: '10.9.9.9' }))).toEqual([false]);
    // A known user has a counter of its own.
    expect(await run(2, request({ user: 'ann' }))).toEqual([true, true]);
    expect((await limiter.check(request())).levels[0]).toMatchObject({ name: 'user', allowed: false });
  });

  it('onMissingKey Skip leaves the level out; Reject refuses the request without counting anything', async () => {
    const { limiter, run } = setup(
      rateLimit([
        { name: 'a-total', limit: 100 },
        { name: 'b-user', scope: 'User', limit: 1, onMissingKey: 'Skip' },
        { name: 'c-tenant', scope: 'Tenant', limit: 1, onMissingKey: 'Reject' },
      ]),
    );
    expect(await limiter.check(request({ tenant: 'acme' }))).toMatchObject({
      allowed: true,
      levels: [{ name: 'a-total' }, { name: 'c-tenant' }],
    });
    const refused = await limiter.check(request({ user: 'ann' }));
    expect(refused).toMatchObject({
      allowed: false,
      missingKey: { level: 'c-tenant', policy: 'jarvis/chat', part: 'Tenant' },
      levels: [{ name: 'c-tenant', allowed: false, shadow: false }],
    });
    expect(refused.retryAfterSec).toBeUndefined();
    // Nothing was counted for the refused request: the user still has its one request.
    expect(await run(1, request({ user: 'ann', tenant: 'other' }))).toEqual([true]);
    expect((await limiter.check(request({ tenant: 'acme' }))).levels.map((l) => [l.name, l.remaining])).toEqual([
      ['a-total', 98],
      ['c-tenant', 0],
    ]);
  });

  it('onMissingKey Reject on a shadow level only reports', async () => {
    const { limiter } = setup(rateLimit([{ name: 'tenant', scope: 'Tenant', limit: 1, onMissingKey: 'Reject', mode: 'Shadow' }]));
    const d = await limiter.check(request());
    expect(d).toEqual({ allowed: true, levels: [expect.objectContaining({ name: 'tenant', allowed: false, shadow: true })] });
  });

  it('scopes: route, client IP, tenant, header and claim keys', async () => {
    const { run } = setup(
      rateLimit([
        { name: 'a-route', scope: 'Route', limit: 100 },
        { name: 'b-ip', scope: 'ClientIP', limit: 100 },
        { name: 'c-key', scope: 'Header', header: 'x-api-key', limit: 1, onMissingKey: 'Skip' },
        { name: 'd-org', scope: 'Claim', claim: 'org', limit: 2, onMissingKey: 'Skip' },
      ]),
    );
    expect(await run(2, request({ headers: { 'x-api-key': 'k1' } }))).toEqual([true, false]);
    expect(await run(1, request({ headers: { 'x-api-key': 'k2' } }))).toEqual([true]);
    expect(await run(3, request({ claims: { org: 'o1' } }))).toEqual([true, true, false]);
  });

  it('counts a Service level once per service and reports the tightest', async () => {
    const { limiter } = setup(rateLimit([{ name: 'svc', scope: 'Service', limit: 2 }]));
    await limiter.check(request({ serviceIds: ['a'] }));
    const d = await limiter.check(request({ serviceIds: ['a', 'b', 'b'] }));
    expect(d.levels).toEqual([
      {
        name: 'svc',
        policy: 'jarvis/chat',
        limit: 2,
        periodMs: 1000,
        remaining: 0,
        resetSec: expect.any(Number),
        allowed: true,
        shadow: false,
      },
    ]);
    expect((await limiter.check(request({ serviceIds: ['b'] }))).allowed).toBe(true);
    expect((await limiter.check(request({ serviceIds: ['b'] }))).allowed).toBe(false);
  });

  it('when: only matching methods and headers count', async () => {
    const { run } = setup(rateLimit([{ name: 'posts', methods: ['POST'], headers: [{ name: 'x-tier', value: 'free' }], limit: 1 }]));
    expect(await run(3, request({ method: 'GET', headers: { 'x-tier': 'free' } }))).toEqual([true, true, true]);
    expect(await run(3, request({ method: 'POST' }))).toEqual([true, true, true]);
    expect(await run(2, request({ method: 'post', headers: { 'x-tier': 'free' } }))).toEqual([true, false]);
  });

  it('per-tenant overrides replace the tenant level’s rate', async () => {
    const { run, limiter } = setup(
      rateLimit([{ name: 'tenant', scope: 'Tenant', limit: 2, tenantOverrides: [{ tenants: ['gold'], limit: 5, periodMs: 1000 }] }]),
    );
    expect(await run(3, request({ tenant: 'free' }))).toEqual([true, true, false]);
    expect(await run(6, request({ tenant: 'gold' }))).toEqual([true, true, true, true, true, false]);
    const d = await limiter.check(request({ tenant: 'gold' }));
    expect(d.levels[0]).toMatchObject({ limit: 5, remaining: 0, allowed: false });
  });

  it('all or nothing: a request rejected at the tenant level consumed nothing at the user and global levels', async () => {
    const { limiter } = setup(
      rateLimit([
        { name: 'global', limit: 100, algorithm: 'GCRA' },
        { name: 'tenant', scope: 'Tenant', limit: 2, algorithm: 'SlidingWindow' },
        { name: 'user', scope: 'User', limit: 10, algorithm: 'TokenBucket' },
      ]),
    );
    const req = request({ tenant: 'acme', user: 'ann' });
    for (let i = 0; i < 2; i++) expect((await limiter.check(req)).allowed).toBe(true);
    for (let i = 0; i < 5; i++) {
      const d = await limiter.check(req);
      expect(d.allowed).toBe(false);
      expect(d.levels.map((l) => [l.name, l.allowed, l.remaining])).toEqual([
        ['global', true, 98],
        ['tenant', false, 0],
        ['user', true, 8],
      ]);
    }
    const other = await limiter.check(request({ tenant: 'other', user: 'ann' }));
    expect(other.levels.map((l) => l.remaining)).toEqual([97, 1, 7]);
  });

  it('shadow levels count, report and never reject', async () => {
    const { limiter } = setup(rateLimit([{ name: 'dry', limit: 1, mode: 'Shadow' }]));
    await limiter.check(request());
    const d = await limiter.check(request());
    expect(d.allowed).toBe(true);
    expect(d.levels).toEqual([expect.objectContaining({ name: 'dry', allowed: false, shadow: true })]);
    expect(rateLimitHeaders(d)).toEqual({});
  });

  it('GCRA with action Wait returns the delay instead of rejecting', async () => {
    const { limiter } = setup(
      rateLimit([{ name: 'smooth', algorithm: 'GCRA', limit: 10, burst: 1, action: { type: 'Wait', maxWaitMs: 150 } }]),
    );
    const d = [await limiter.check(request()), await limiter.check(request()), await limiter.check(request())];
    expect(d.map((x) => [x.allowed, x.waitMs])).toEqual([
      [true, undefined],
      [true, 100],
      [false, undefined],
    ]);
    expect(d[2]?.retryAfterSec).toBe(1);
  });

  it('costs: fixed, header (whole units, capped at the capacity), LLM tokens from the resolver', async () => {
    const { limiter } = setup(
      rateLimit([
        { name: 'fixed', limit: 10, cost: { type: 'Fixed', amount: 4 } },
        { name: 'header', scope: 'Route', limit: 100, cost: { type: 'Header', header: 'x-cost' } },
        { name: 'tokens', scope: 'Tenant', limit: 1000, algorithm: 'TokenBucket', cost: { type: 'LlmTokens', tokens: 'Total' } },
      ]),
      { llmTokens: (req, kind) => (kind === 'Total' ? Number(req.header('x-est') ?? NaN) : undefined) },
    );
    const check = async (headers: Record<string, string>) => {
      const d = await limiter.check(request({ tenant: 't', headers }));
      return [d.allowed, ...d.levels.map((l) => l.remaining)];
    };
    expect(await check({ 'x-cost': '7', 'x-est': '250' })).toEqual([true, 6, 93, 750]);
    // Not a number, negative, fractional: 1.
    expect(await check({ 'x-cost': 'abc', 'x-est': 'nope' })).toEqual([true, 2, 92, 749]);
    // The fixed level rejects: nothing is charged anywhere.
    expect(await check({ 'x-cost': '-5' })).toEqual([false, 2, 92, 749]);
  });

  it('a header cost above the capacity is capped at it', async () => {
    const { limiter } = setup(rateLimit([{ name: 'h', limit: 100, cost: { type: 'Header', header: 'x-cost' } }]));
    expect((await limiter.check(request({ headers: { 'x-cost': '1000000000000' } }))).levels[0]).toMatchObject({
      allowed: true,
      remaining: 0,
    });
    expect((await limiter.check(request({ headers: { 'x-cost': '1.5' } }))).allowed).toBe(false);
  });

  it('hot values get the hotspot limit while flagged', async () => {
    const { run, limiter } = setup(rateLimit([{ name: 'global', limit: 100 }], { hotspot: tenantHotspot('Enforce') }));
    const hot = request({ tenant: 'acme', hot: [{ parameter: 'Tenant', value: 'acme' }] });
    expect(await run(3, hot)).toEqual([true, true, false]);
    expect(await run(3, request({ tenant: 'acme' }))).toEqual([true, true, true]);
    const d = await limiter.check(hot);
    expect(d.levels.map((l) => [l.name, l.allowed])).toEqual([
      ['global', true],
      ['hotspot:Tenant', false],
    ]);
  });

  it('a hotspot in Shadow mode counts hot values against its limit without refusing them', async () => {
    const { run, limiter } = setup(rateLimit([{ name: 'global', limit: 100 }], { hotspot: tenantHotspot('Shadow') }));
    const hot = request({ tenant: 'acme', hot: [{ parameter: 'Tenant', value: 'acme' }] });
    expect(await run(3, hot)).toEqual([true, true, true]);
    const d = await limiter.check(hot);
    expect(d.allowed).toBe(true);
    expect(d.levels.find((l) => l.name === 'hotspot:Tenant')).toMatchObject({ allowed: false, shadow: true });
  });

  it('Retry-After is never earlier than the violated level’s t', async () => {
    const { limiter, time } = setup(
      rateLimit([
        { name: 'a', limit: 1, periodMs: 60_000 },
        { name: 'b', limit: 1, periodMs: 5_000, algorithm: 'TokenBucket' },
      ]),
    );
    time.advance(60_000 - (time.now() % 60_000) + 1000);
    await limiter.check(request());
    const d = await limiter.check(request());
    expect(d.allowed).toBe(false);
    expect(d.levels.map((l) => l.resetSec)).toEqual([59, 5]);
    expect(d.retryAfterSec).toBe(59);
    expect(rateLimitHeaders(d)).toEqual({
      'RateLimit-Policy': '"a";q=1;w=60, "b";q=1;w=5',
      RateLimit: '"a";r=0;t=59, "b";r=0;t=5',
      'Retry-After': '59',
    });
  });

  it('calls onDecision once per check', async () => {
    const { run, decisions } = setup(rateLimit([{ name: 'g', limit: 1 }]));
    await run(2);
    expect(decisions.map((d) => d.allowed)).toEqual([true, false]);
  });
});

describe('composite keys, conditions and plans', () => {
  it('a [Tenant, Model] key counts each model of a tenant on its own counter', async () => {
    const { run } = setup(rateLimit([{ name: 'tm', key: [{ type: 'Tenant' }, { type: 'Model' }], limit: 2 }]));
    const req = (tenant: string, model: string) => request({ tenant, llmModel: model });
    expect(await run(3, req('acme', 'gpt-4'))).toEqual([true, true, false]);
    expect(await run(2, req('acme', 'gpt-3.5-turbo'))).toEqual([true, true]);
    expect(await run(2, req('globex', 'gpt-4'))).toEqual([true, true]);
    // No tenant: the anonymous tenant, still per model.
    expect(await run(3, request({ llmModel: 'gpt-4' }))).toEqual([true, true, false]);
    expect(await run(1, request({ llmModel: 'claude-haiku' }))).toEqual([true]);
  });

  it('a composite key over a route’s Services counts once per Service', async () => {
    const { limiter } = setup(rateLimit([{ name: 'us', key: [{ type: 'User' }, { type: 'Service' }], limit: 1 }]));
    expect((await limiter.check(request({ user: 'ann', serviceIds: ['a', 'b', 'a'] }))).allowed).toBe(true);
    expect((await limiter.check(request({ user: 'ann', serviceIds: ['b'] }))).allowed).toBe(false);
    expect((await limiter.check(request({ user: 'bob', serviceIds: ['b'] }))).allowed).toBe(true);
  });

  it('onMissingKey Skip and Reject apply when any part of a composite key is missing', async () => {
    const skip = setup(rateLimit([{ name: 'tm', key: [{ type: 'Tenant' }, { type: 'Model' }], limit: 1, onMissingKey: 'Skip' }]));
    expect(await skip.run(3, request({ tenant: 'acme' }))).toEqual([true, true, true]);
    const reject = setup(
      rateLimit([{ name: 'tm', key: [{ type: 'Tenant' }, { type: 'Header', name: 'x-org' }], limit: 1, onMissingKey: 'Reject' }]),
    );
    expect(await reject.limiter.check(request({ tenant: 'acme' }))).toMatchObject({ allowed: false, missingKey: { part: 'Header x-org' } });
  });

  it('when: path exact, by segment and RE2; header RE2, Present and invert; query parameters; the model', async () => {
    const cases: [Level['when'], LimitRequest, boolean][] = [
      [{ path: { type: 'Exact', value: '/v1/chat/completions', invert: false } }, request(), true],
      [{ path: { type: 'Exact', value: '/v1/chat', invert: false } }, request(), false],
      [{ path: { type: 'PathPrefix', value: '/v1/chat', invert: false } }, request(), true],
      [{ path: { type: 'PathPrefix', value: '/v1/ch', invert: false } }, request(), false],
      [{ path: { type: 'PathPrefix', value: '/v1/chat', invert: true } }, request(), false],
      [{ path: { type: 'RegularExpression', value: '/v1/.*/completions', invert: false } }, request(), true],
      [
        { headers: [{ name: 'x-tier', type: 'RegularExpression', value: 'free|trial', invert: false }] },
        request({ headers: { 'x-tier': 'trial' } }),
        true,
      ],
      [
        { headers: [{ name: 'x-tier', type: 'RegularExpression', value: 'free|trial', invert: false }] },
        request({ headers: { 'x-tier': 'trials' } }),
        false,
      ],
      [{ headers: [{ name: 'x-api-key', type: 'Present', invert: true }] }, request(), true],
      [{ headers: [{ name: 'x-api-key', type: 'Present', invert: true }] }, request({ headers: { 'x-api-key': 'k' } }), false],
      [{ headers: [{ name: 'x-tier', type: 'Exact', value: 'gold', invert: true }] }, request(), true],
      [{ queryParams: [{ name: 'stream', type: 'Exact', value: 'true', invert: false }] }, request({ query: { stream: 'true' } }), true],
      [{ queryParams: [{ name: 'stream', type: 'Exact', value: 'true', invert: false }] }, request(), false],
      [{ model: { type: 'Exact', value: 'gpt-4', invert: false } }, request({ llmModel: 'gpt-4' }), true],
      [{ model: { type: 'Exact', value: 'gpt-4', invert: false } }, request({ llmModel: 'gpt-4o' }), false],
      [{ model: { type: 'RegularExpression', value: 'gpt-4.*', invert: false } }, request({ llmModel: 'gpt-4o' }), true],
      [{ model: { type: 'Exact', value: 'gpt-4', invert: false } }, request(), false],
      [{ model: { type: 'Exact', value: 'gpt-4', invert: true } }, request(), true],
      // All conditions must hold.
      [
        { methods: ['POST'], model: { type: 'Exact', value: 'gpt-4', invert: false } },
        request({ method: 'GET', llmModel: 'gpt-4' }),
        false,
      ],
    ];
    for (const [when, req, counted] of cases) {
      const { limiter } = setup(rateLimit([{ name: 'w', limit: 1, when }]));
      const d = await limiter.check(req);
      expect(d.levels.length === 1, JSON.stringify(when)).toBe(counted);
    }
  });

  it('plans: the plan claim picks the rate; no claim or an unknown plan gets the level’s; a tenant override wins', async () => {
    const { run } = setup(
      rateLimit([
        {
          name: 'tenant',
          scope: 'Tenant',
          limit: 1,
          planClaim: 'org.plan',
          plans: [
            { name: 'gold', limit: 3, periodMs: 1000 },
            { name: 'silver', limit: 2, periodMs: 1000 },
          ],
          tenantOverrides: [{ tenants: ['vip'], limit: 5, periodMs: 1000 }],
        },
      ]),
    );
    const on = (tenant: string, plan?: string) => request({ tenant, claims: plan ? { 'org.plan': plan } : {} });
    expect(await run(4, on('a', 'gold'))).toEqual([true, true, true, false]);
    expect(await run(3, on('b', 'silver'))).toEqual([true, true, false]);
    expect(await run(2, on('c', 'platinum'))).toEqual([true, false]);
    expect(await run(2, on('d'))).toEqual([true, false]);
    expect(await run(6, on('vip', 'silver'))).toEqual([true, true, true, true, true, false]);
  });

  it('one key whose rate or cost changes from one request to the next is decided with the rate and cost of each request', async () => {
    // The level keeps its last op for the next request of the same key: a new plan (same key,
    // another rate) or another cost must not reuse it.
    const { limiter } = setup(
      rateLimit([
        {
          name: 'tenant',
          scope: 'Tenant',
          limit: 2,
          planClaim: 'org.plan',
          plans: [{ name: 'gold', limit: 4, periodMs: 1000 }],
        },
      ]),
    );
    const on = (plan?: string) => request({ tenant: 'a', claims: plan ? { 'org.plan': plan } : {} });
    const limits: number[] = [];
    const allowed: boolean[] = [];
    for (const plan of ['gold', undefined, 'gold', undefined, 'gold']) {
      const d = await limiter.check(on(plan));
      limits.push(d.levels[0]?.limit ?? -1);
      allowed.push(d.allowed);
    }
    expect(limits).toEqual([4, 2, 4, 2, 4]);
    // One counter (the key is the tenant's): 2 requests fill the base rate, gold admits up to 4.
    expect(allowed).toEqual([true, true, true, false, true]);
  });

  it('keys on Redis: one part as before, composite parts joined by a space, credentials (headers and query parameters) as digests, missing parts as #anonymous', async () => {
    const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const prefix = `test:rl:composite:${randomUUID()}:`;
    try {
      const time = new ManualTime();
      const levels: Level[] = [
        { name: 'ip', scope: 'ClientIP', limit: 10 },
        { name: 'tm', key: [{ type: 'Tenant' }, { type: 'Model' }], limit: 10 },
        { name: 'kq', key: [{ type: 'QueryParam', name: 'api_key' }, { type: 'Header', name: 'x-org' }, { type: 'Path' }], limit: 10 },
      ];
      const limiter = compileRouteLimiter(
        rateLimit(levels, { store: 'Redis', failureMode: { mode: 'Closed', timeoutMs: 0, expectedReplicas: 1 } }),
        {
          stores: { memory: createMemoryStore({ clock: time, maxKeys: 100 }), redis: createRedisStore({ redis, prefix }) },
          clock: time,
        },
      );
      expect(
        (
          await limiter.check(
            request({ tenant: 'acme', llmModel: 'gpt-4', query: { api_key: 'sk-secret-123' }, headers: { 'x-org': 'o1' } }),
          )
        ).allowed,
      ).toBe(true);
      expect((await limiter.check(request({ llmModel: 'gpt-4' }))).allowed).toBe(true);
      const keys = (await redis.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).sort();
      for (const k of keys) expect(k).not.toContain('sk-secret');
      expect(keys.filter((k) => k.endsWith(':I:10.0.0.1'))).toHaveLength(1);
      expect(keys.filter((k) => k.endsWith(':TM:acme gpt-4'))).toHaveLength(1);
      expect(keys.filter((k) => k.endsWith(':TM:#anonymous gpt-4'))).toHaveLength(1);
      expect(keys.filter((k) => /:QHP:#[A-Za-z0-9_-]{22} o1 \/v1\/chat\/completions$/.test(k))).toHaveLength(1);
      expect(keys.filter((k) => k.endsWith(':QHP:#anonymous #anonymous /v1/chat/completions'))).toHaveLength(1);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('failure modes (Redis store configured, Redis absent)', () => {
  const base = (mode: 'Open' | 'Closed' | 'Local', expectedReplicas = 4) =>
    rateLimit([{ name: 'g', limit: 10 }], { store: 'Redis', failureMode: { mode, timeoutMs: 100, expectedReplicas } });

  it('starts in the failure mode when compiled while Redis is missing or not ready: no mode change on the first check', async () => {
    for (const mode of ['Open', 'Closed', 'Local'] as const) {
      const changes: string[] = [];
      const { limiter } = setup(base(mode), { onModeChange: (m, previous) => changes.push(`${previous}→${m}`) });
      expect(limiter.mode()).toBe(mode.toLowerCase());
      await limiter.check(request());
      expect(changes).toEqual([]);
    }
    const notReady: LimitStore = {
      kind: 'redis',
      ready: () => false,
      check: () => Promise.reject(new Error('not called')),
      adjust: () => Promise.resolve(),
    };
    const time = new ManualTime();
    const limiter = compileRouteLimiter(base('Local'), {
      stores: { memory: createMemoryStore({ clock: time, maxKeys: 10 }), redis: notReady },
      clock: time,
    });
    expect(limiter.mode()).toBe('local');
  });

  it('open admits and says so', async () => {
    const { limiter } = setup(base('Open'));
    const d = await limiter.check(request());
    expect(d).toEqual({ allowed: true, levels: [], degraded: 'open' });
    expect(limiter.mode()).toBe('open');
  });

  it('closed rejects with 503 semantics', async () => {
    const { limiter } = setup(base('Closed'));
    expect(await limiter.check(request())).toEqual({ allowed: false, levels: [], degraded: 'closed', retryAfterSec: 1 });
    expect(limiter.mode()).toBe('closed');
  });

  it('local limits in memory with the limit divided by the expected replicas', async () => {
    const { limiter, run } = setup(base('Local', 4));
    expect(await run(4)).toEqual([true, true, false, false]);
    const d = await limiter.check(request());
    expect(d.degraded).toBe('local');
    expect(d.levels[0]).toMatchObject({ limit: 2, allowed: false });
  });
});

describe('credentials in keys', () => {
  it('a level on a credential-like header keys its counters by digest: Redis never sees the value', async () => {
    const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const prefix = `test:rl:cred:${randomUUID()}:`;
    try {
      const time = new ManualTime();
      const levels: Level[] = [
        { name: 'per-key', scope: 'Header', header: 'x-api-key', limit: 2 },
        { name: 'per-auth', scope: 'Header', header: 'Authorization', limit: 100 },
        { name: 'per-tier', scope: 'Header', header: 'x-tier', limit: 100 },
      ];
      const noTimeout = { mode: 'Closed', timeoutMs: 0, expectedReplicas: 1 } as const;
      // Two replicas on one Redis: the same credential is one counter.
      const replica = () =>
        compileRouteLimiter(rateLimit(levels, { store: 'Redis', failureMode: noTimeout }), {
          stores: { memory: createMemoryStore({ clock: time, maxKeys: 100 }), redis: createRedisStore({ redis, prefix }) },
          clock: time,
        });
      const [a, b] = [replica(), replica()];
      const secret = 'sk-live-0123456789abcdef';
      const req = request({ headers: { 'x-api-key': secret, authorization: 'Bearer eyJhbGciOi.secret', 'x-tier': 'gold' } });
      expect((await a.check(req)).allowed).toBe(true);
      expect((await b.check(req)).allowed).toBe(true);
      expect((await a.check(req)).allowed).toBe(false);
      expect((await b.check(request({ headers: { 'x-api-key': 'another-key' } }))).allowed).toBe(true);
      const keys = await redis.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThanOrEqual(4);
      for (const k of keys) {
        expect(k).not.toContain('sk-live');
        expect(k).not.toContain('another-key');
        expect(k).not.toContain('eyJ');
      }
      expect(keys.filter((k) => k.includes(':H:gold'))).toHaveLength(1); // not a credential: kept readable
      expect(keys.filter((k) => /:H:#[A-Za-z0-9_-]{22}$/.test(k))).toHaveLength(3);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('on Redis, batched', () => {
  it('one round trip decides many users and both base-rate and override tenants exactly like the memory store', async () => {
    const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const time = new ManualTime();
      const redisStore = createRedisStore({ redis, prefix: `test:rl:limiter:${randomUUID()}:`, testNow: () => time.now() });
      const levels: Level[] = [
        { name: 'global', algorithm: 'FixedWindow', limit: 40 },
        {
          name: 'tenant',
          scope: 'Tenant',
          algorithm: 'TokenBucket',
          limit: 3,
          burst: 4,
          tenantOverrides: [{ tenants: ['gold'], limit: 8, periodMs: 1000, burst: 9 }],
        },
        { name: 'user', scope: 'User', algorithm: 'GCRA', limit: 2, burst: 2 },
      ];
      // No timeout (0): a slow round trip on a busy machine must not turn into a failure-mode answer.
      const noTimeout = { mode: 'Closed', timeoutMs: 0, expectedReplicas: 1 } as const;
      const onRedis = compileRouteLimiter(rateLimit(levels, { store: 'Redis', failureMode: noTimeout }), {
        stores: { memory: createMemoryStore({ clock: time, maxKeys: 1000 }), redis: redisStore },
        clock: time,
        hashTag: randomUUID(),
      });
      const inMemory = compileRouteLimiter(rateLimit(levels), {
        stores: { memory: createMemoryStore({ clock: time, maxKeys: 1000 }) },
        clock: time,
        hashTag: randomUUID(),
      });
      let x = 7;
      const rand = (): number => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x6d2b79f5) >>> 0) / 4294967296;
      for (let step = 0; step < 15; step++) {
        time.advance(Math.floor(rand() * 500));
        const requests = Array.from({ length: 5 + Math.floor(rand() * 20) }, () =>
          request({ tenant: ['gold', 'free', 'acme'][Math.floor(rand() * 3)], user: `u${Math.floor(rand() * 6)}` }),
        );
        // Batches sent: round trips less the EVALs that follow a NOSCRIPT (a Redis that has not
        // seen the script yet), which resend the same batch.
        const batches = () => redisStore.stats.roundTrips - redisStore.stats.scriptLoads - redisStore.stats.scriptReloads;
        const before = batches();
        const got = await Promise.all(requests.map((r) => onRedis.check(r)));
        expect(batches() - before, `step ${step}`).toBe(1);
        const want: LimitDecision[] = [];
        for (const r of requests) want.push(await inMemory.check(r));
        expect({ step, got }).toEqual({ step, got: want });
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('checkInto: a decision without a promise', () => {
  it('in memory: the decision at once, the sink never called; on Redis: undefined at once, then the sink with the request and the same decision as check', async () => {
    const time = new ManualTime();
    const levels: Level[] = [{ name: 'user', scope: 'User', algorithm: 'FixedWindow', limit: 2 }];
    const calls: string[] = [];
    const sink: DecisionSink<LimitRequest & { tag: string }> = {
      decided: (req, d) => calls.push(`${req.tag} ${d.allowed}`),
      failed: (req) => calls.push(`${req.tag} failed`),
    };
    const inMemory = compileRouteLimiter(rateLimit(levels), {
      stores: { memory: createMemoryStore({ clock: time, maxKeys: 100 }) },
      clock: time,
      hashTag: randomUUID(),
    });
    const tagged = (tag: string) => Object.assign(request({ user: 'u1' }), { tag });
    expect([1, 2, 3].map((i) => inMemory.checkInto(tagged(`m${i}`), sink)?.allowed)).toEqual([true, true, false]);
    expect(calls).toEqual([]);

    const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const onRedis = compileRouteLimiter(
        rateLimit(levels, { store: 'Redis', failureMode: { mode: 'Closed', timeoutMs: 0, expectedReplicas: 1 } }),
        {
          stores: {
            memory: createMemoryStore({ clock: time, maxKeys: 100 }),
            redis: createRedisStore({ redis, prefix: `test:rl:limiter:${randomUUID()}:`, testNow: () => time.now() }),
          },
          clock: time,
          hashTag: randomUUID(),
        },
      );
      expect([1, 2, 3].map((i) => onRedis.checkInto(tagged(`r${i}`), sink))).toEqual([undefined, undefined, undefined]);
      expect(calls).toEqual([]);
      await expect.poll(() => calls.length).toBe(3);
      expect(calls).toEqual(['r1 true', 'r2 true', 'r3 false']);
      // check() on the same counter agrees (its promise from the same path).
      expect((await onRedis.check(request({ user: 'u1' }))).allowed).toBe(false);
      expect((await onRedis.check(request({ user: 'u2' }))).allowed).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Against real Redis processes: unreachable, silent, and restarted.

/** Resolves on the client's next 'ready' (connection errors before it are expected). */
function ready(redis: Redis): Promise<void> {
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}

function client(port: number, extra: RedisOptions = {}): Redis {
  const r = new Redis(port, '127.0.0.1', {
    enableOfflineQueue: false,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 20,
    ...extra,
  });
  r.on('error', () => {});
  return r;
}

const cleanup: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

function redisSetup(mode: 'Open' | 'Closed' | 'Local', redis: Redis, timeoutMs = 150) {
  const time = new ManualTime();
  const modes: ActiveMode[] = [];
  const stores: LimitStores = {
    memory: createMemoryStore({ clock: time, maxKeys: 1000 }),
    redis: createRedisStore({ redis, prefix: `test:rl:limiter:${randomUUID()}:` }),
  };
  const ir = rateLimit([{ name: 'g', limit: 8 }], { store: 'Redis', failureMode: { mode, timeoutMs, expectedReplicas: 4 } });
  const limiter = compileRouteLimiter(ir, { stores, clock: time, onModeChange: (m) => modes.push(m) });
  return { limiter, modes };
}

describe('failure modes against real sockets', () => {
  it.each(['Open', 'Closed', 'Local'] as const)('%s: a client pointed at a closed port answers at once', async (mode) => {
    const port = await freePort();
    // Every timer far away (the client's and the policy's 10 s), so "at once" is told apart from
    // a timeout by a wide margin, on a loaded machine too.
    const redis = client(port, { commandTimeout: 10_000 });
    cleanup.push(() => redis.disconnect());
    const { limiter } = redisSetup(mode, redis, 10_000);
    const started = performance.now();
    const d = await limiter.check(request());
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(d.degraded).toBe(mode.toLowerCase());
    expect(d.allowed).toBe(mode !== 'Closed');
  });

  it('a Redis that accepts but never answers: the check gives up after the policy timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanup.push(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const addr = silent.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    const redis = client(addr.port, { enableReadyCheck: false, disableClientInfo: true, commandTimeout: 5000 });
    cleanup.push(() => redis.disconnect());
    await ready(redis);
    const { limiter, modes } = redisSetup('Local', redis, 120);
    const started = performance.now();
    const d = await limiter.check(request());
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(2000); // its own timeout, far from the client's 5 s commandTimeout
    expect(d).toMatchObject({ allowed: true, degraded: 'local' });
    expect(modes).toEqual(['local']);
  });

  it('distributed limiting resumes by itself when Redis comes back', async () => {
    // The e2e harness's throwaway redis-server, on a port of this test's own.
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await ensureRedis(url);
    cleanup.push(() => server.stop());
    const redis = client(port);
    cleanup.push(() => redis.disconnect());
    await ready(redis);
    // A generous timeout: a fresh server's first check costs two round trips (NOSCRIPT, EVAL).
    const { limiter, modes } = redisSetup('Local', redis, 5000);
    expect((await limiter.check(request())).degraded).toBeUndefined();
    expect(limiter.mode()).toBe('redis');

    const closed = new Promise((resolve) => redis.once('close', resolve));
    await server.stop();
    await closed;
    const down = await limiter.check(request());
    expect(down.degraded).toBe('local');

    const back = ready(redis);
    server = await ensureRedis(url); // the port is free again: a fresh server there
    await back;
    const after = await limiter.check(request());
    expect(after.degraded).toBeUndefined();
    // A fresh server (no persistence): its counters start over, and the script is loaded again.
    expect(after.levels[0]).toMatchObject({ limit: 8, remaining: 7 });
    expect(modes).toEqual(['local', 'redis']);
  });
});
