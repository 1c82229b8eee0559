/**
 * Compiling a config: in slices (traffic served between them), and without side effects on the
 * running config until commit — a config that fails leaves every pool as it was.
 */
import type { BackendIR, GatewayIR, IdentityIR, RouteIR } from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import type { GatewayConfig } from '../config/types.js';
import { BodyBudget } from '../inspect/budget.js';
import { BackendGuardRegistry, NO_EVENTS } from '../policy/breaker/index.js';
import { CacheRegistry } from '../policy/cache/index.js';
import { HotspotRegistry } from '../policy/hotspot/index.js';
import { createMemoryStore } from '../policy/ratelimit/index.js';
import { IdentityHolder, anonymousIdentity } from '../identify/index.js';
import { Upstreams } from '../proxy/upstreams.js';
import { compileGateway, compileGatewaySliced, type CompileDeps } from './compile.js';

const upstreams: Upstreams[] = [];
afterEach(async () => {
  for (const u of upstreams.splice(0)) await u.close();
});

function route(i: number): RouteIR {
  return {
    id: `ns/r${String(i).padStart(4, '0')}/rule-0`,
    route: { namespace: 'ns', name: `r${i}` },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'Exact', value: `/r/${i}` }, headers: [], queryParams: [] }],
    backends: [{ backend: `ns/svc${i % 3}:80`, weight: 1 }],
    unresolvedWeight: 0,
  };
}

function backend(i: number, port: number): BackendIR {
  return {
    id: `ns/svc${i}:80`,
    service: { namespace: 'ns', name: `svc${i}`, port: 80 },
    endpoints: [{ address: '127.0.0.1', port, ready: true, serving: true, terminating: false }],
    policies: [],
  };
}

function config(routes: number, basePort: number): GatewayConfig {
  const rs = Array.from({ length: routes }, (_, i) => route(i));
  const gateway: GatewayIR = {
    id: 'ns/gw',
    listeners: [{ name: 'http', port: 8080, protocol: 'HTTP', hostnames: [] }],
    routes: rs,
    matchOrder: rs.map((r) => ({ route: r.id, match: 0 })),
    policies: [],
  };
  return { gateway, backends: [0, 1, 2].map((i) => backend(i, basePort + i)), source: 'file', version: `v${basePort}` };
}

function deps(time: ManualTime): CompileDeps {
  const u = new Upstreams({ connectionsPerEndpoint: 1, connectTimeoutMs: 100, keepAliveTimeoutMs: 100 });
  upstreams.push(u);
  return {
    clock: time,
    stopwatch: time,
    timers: time,
    random: () => 0,
    upstreams: u,
    stores: { memory: createMemoryStore({ clock: time, maxKeys: 100 }) },
    hotspots: new HotspotRegistry(),
    backendGuards: new BackendGuardRegistry({
      clock: time,
      timers: time,
      random: () => 0,
      prober: { probe: () => {}, close: async () => {} },
      events: NO_EVENTS,
    }),
    caches: new CacheRegistry({ clock: time, timers: time }),
    call: { maxBodyBytes: 1024, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 },
    body: { bufferBytes: 1024, inspectBytes: 1024, timeoutMs: 1000, budget: new BodyBudget(1 << 20), timers: time },
    identity: new IdentityHolder(anonymousIdentity, 'anonymous', { clock: time, timers: time }),
    onDecision: () => {},
  };
}

describe('compileGatewaySliced', () => {
  it('pauses whenever a slice has run its time, and compiles what compileGateway compiles', async () => {
    const time = new ManualTime(0);
    const d = deps(time);
    // Every reading of the stopwatch costs a millisecond: with 4 ms slices, many pauses.
    let readings = 0;
    const stopwatch = { now: () => ++readings };
    let pauses = 0;
    const pending = await compileGatewaySliced(config(2000, 40000), d, {
      stopwatch,
      sliceMs: 4,
      pause: async () => {
        pauses++;
        time.advance(1);
      },
    });
    const sync = compileGateway(config(2000, 40000), deps(new ManualTime(0)));
    expect(pauses).toBeGreaterThan(5);
    expect([...pending.compiled.routes.keys()]).toEqual([...sync.compiled.routes.keys()]);
    expect(pending.compiled.matcher.match({ method: 'GET', path: '/r/1234', query: '', host: 'x', header: () => undefined })?.id).toBe(
      'ns/r1234/rule-0',
    );
    pending.commit();
    sync.abort();
    expect(d.upstreams.origins()).toEqual(['http://127.0.0.1:40000', 'http://127.0.0.1:40001', 'http://127.0.0.1:40002']);
  });

  it('nothing of a config that fails to compile reaches the running one', async () => {
    const time = new ManualTime(0);
    const d = deps(time);
    compileGateway(config(3, 41000), d).commit();
    const guardsBefore = d.backendGuards.view();
    expect(guardsBefore).toHaveLength(3);
    const bad = config(3, 42000);
    const broken: GatewayConfig = {
      ...bad,
      gateway: { ...bad.gateway, matchOrder: [...bad.gateway.matchOrder, { route: 'ns/missing/rule-0', match: 0 }] },
    };
    await expect(compileGatewaySliced(broken, d, { stopwatch: time, sliceMs: 1, pause: async () => undefined })).rejects.toThrow(
      /does not exist/,
    );
    expect(() => compileGateway(broken, d)).toThrow(/does not exist/);
    // The running config's pools are the only ones; none was made for, or closed by, the broken one.
    expect(d.upstreams.origins()).toEqual(['http://127.0.0.1:41000', 'http://127.0.0.1:41001', 'http://127.0.0.1:41002']);
    // Nor its backend guards: the running config's are the registry's.
    expect(d.backendGuards.view()).toEqual(guardsBefore);
  });
});

describe('identity of a config', () => {
  const source = { kind: 'ClientIdentityPolicy' as const, namespace: 'ns', name: 'id', generation: 1 };
  const withIdentity = (identity?: IdentityIR): GatewayConfig => {
    const c = config(1, 43000);
    return { ...c, gateway: { ...c.gateway, ...(identity ? { identity } : {}) } };
  };

  it('is built beside the running one, in force on commit, kept while unchanged, and a bad one changes nothing', async () => {
    const time = new ManualTime(0);
    const d = deps(time);
    const holder = d.identity as IdentityHolder;
    const first = compileGateway(withIdentity(), d);
    first.commit();
    expect(first.compiled.identitySource).toBe('anonymous');

    const trusting: IdentityIR = { ...anonymousIdentity, source, trustedProxies: ['10.0.0.0/8'] };
    const second = compileGateway(withIdentity(trusting), d);
    expect(holder.current?.identifier).toBe(first.compiled.identifier);
    second.commit();
    expect(second.compiled.identitySource).toBe('ClientIdentityPolicy ns/id');
    expect(holder.current?.identifier).toBe(second.compiled.identifier);
    const peer = { remoteAddress: '10.1.2.3', headers: { 'x-forwarded-for': '203.0.113.5', 'x-tenant-id': 'acme' } };
    expect(await second.compiled.identifier.identify(peer)).toMatchObject({
      clientIp: '203.0.113.5',
      tenant: 'acme',
      method: 'trustedHeader',
    });
    expect(await first.compiled.identifier.identify(peer)).toMatchObject({ clientIp: '10.1.2.3', method: 'anonymous' });

    const again = compileGateway(withIdentity(trusting), d);
    expect(again.compiled.identifier).toBe(second.compiled.identifier);
    again.commit();

    const unusable: IdentityIR = {
      ...trusting,
      jwt: {
        providers: [
          {
            name: 'p',
            issuer: 'https://idp.test/',
            audiences: ['a'],
            algorithms: ['ES256'],
            clockToleranceMs: 0,
            tenantClaim: 'tenant',
            userClaim: 'sub',
            keys: { type: 'Inline', keys: [{ kty: 'EC' }] },
          },
        ],
        header: { name: 'authorization', scheme: 'Bearer' },
        required: false,
        cacheSize: 1,
        maxTokenLength: 8192,
      },
    };
    expect(() => compileGateway(withIdentity(unusable), d)).toThrow(
      /^jwt\.providers\[0\]\.keys\.keys: provider p keys\[0\] is not a usable public key/,
    );
    await expect(
      compileGatewaySliced(withIdentity(unusable), d, { stopwatch: time, sliceMs: 1, pause: async () => undefined }),
    ).rejects.toThrow(/not a usable public key/);
    expect(holder.current?.identifier).toBe(second.compiled.identifier);
  });

  it("decides which request headers never reach the upstream: the identity's own", () => {
    const time = new ManualTime(0);
    const d = deps(time);
    const pending = compileGateway(
      withIdentity({ ...anonymousIdentity, source, trustedHeaders: { tenant: 'x-org', user: 'x-person' } }),
      d,
    );
    expect(pending.compiled.identifier.identityHeaders).toEqual(['x-org', 'x-person', 'x-forwarded-for']);
    pending.abort();
  });
});
