/**
 * Hostile configuration against real gateway processes (and, for a live HTTPRoute edit, the real
 * apiserver and operator): YAML alias bombs and deep documents, a FIFO in the config folder, the
 * folder deleted and created again, an oversized file, a large config reloaded under traffic,
 * ReDoS patterns in routes, an invalid edit of a serving route, credentials in limit and hot-key
 * keys, a Redis password in the URL, a damaged state file. For each case: the answer, that the
 * gateway still serves other traffic within a bound, and that its memory (RSS from its own
 * /metrics) stays bounded.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bulkRoutes } from '../src/bulk-config.js';
import { clock, sleep } from '../src/clock.js';
import { eventually, applyGatewayClass } from '../src/cluster.js';
import { freePort } from '../src/envtest/ports.js';
import { gatewayMain, standaloneConfig, startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

/** Other traffic must be answered within this while (and after) a hostile input is handled. */
const SERVE_BOUND_MS = 1000;
/** RSS may grow at most this much over the gateway's own baseline. */
const RSS_GROWTH_BOUND = 300 * 1024 * 1024;

let upstream: Awaited<ReturnType<typeof startUpstream>>;
const gateways: GatewayProcess[] = [];
const dirs: string[] = [];

const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

const route = (name: string, path: string, type = 'PathPrefix', extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: ${type}, value: "${path}" }${extra} }], backendRefs: [{ name: upstream, port: 80 }] }]
`;

/** A 1 KB "billion laughs" in a policy's limit names. */
function aliasBomb(): string {
  const lines = ['x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) lines.push(`x${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
  return `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: bomb, namespace: e2e }
${lines.join('\n')}
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  limits:
  - { name: *a8, scope: Route, rate: { requests: 1, per: 1s } }
  - { name: *a8, scope: Route, rate: { requests: 1, per: 1s } }
`;
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; ms: number; body: string }> {
  const t = clock.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const body = await res.text();
  return { status: res.status, ms: clock.now() - t, body };
}

const rss = async (gw: GatewayProcess): Promise<number> => (await gw.metric('jarvis_gateway_process_resident_memory_bytes')) ?? NaN;
const rejected = async (gw: GatewayProcess): Promise<number> =>
  (await gw.metric('jarvis_gateway_config_updates_total', { source: 'file', result: 'rejected' })) ?? 0;
const log = (gw: GatewayProcess): string => readFileSync(gw.logFile, 'utf8');

/** The gateway answers other traffic, quickly, and its memory stays within the bound over `baseline`. */
async function stillServes(gw: GatewayProcess, baseline: number): Promise<void> {
  const r = await get(`${gw.url}/api/ok`);
  expect(r.status).toBe(200);
  expect(r.ms).toBeLessThan(SERVE_BOUND_MS);
  const now = await rss(gw);
  expect(now - baseline).toBeLessThan(RSS_GROWTH_BOUND);
}

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  for (const gw of gateways.splice(0)) await gw.stop();
  await upstream.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('standalone gateway: a hostile config folder', () => {
  let gw: GatewayProcess;
  let dir: string;
  let baseline: number;
  const base = () =>
    standaloneConfig(
      upstream.port,
      [
        route('redos', '/redos/(a+)+$', 'RegularExpression'),
        route('hdr', '/hdr', 'PathPrefix', ', headers: [{ name: x-id, type: RegularExpression, value: "(x+x+)+y" }]'),
      ].join('---\n'),
    );

  beforeAll(async () => {
    const parent = tempDir('jarvis-hostile-');
    dir = join(parent, 'config');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.yaml'), base());
    writeFileSync(join(dir, 'live.yaml'), route('live', '/live/v[0-9]+', 'RegularExpression'));
    gw = await startGateway({ name: 'hostile-files', args: ['--config', dir] });
    gateways.push(gw);
    await get(`${gw.url}/api/warm`);
    baseline = await rss(gw);
  });

  it('ReDoS: (a+)+$ against long paths and (x+x+)+y against a long header answer in milliseconds', async () => {
    const a = 'a'.repeat(8000);
    const results = {
      match: await get(`${gw.url}/redos/${a}`),
      miss: await get(`${gw.url}/redos/${a}!`),
      tenThousand: await get(`${gw.url}/redos/${'a'.repeat(10_000)}!`),
      header: await get(`${gw.url}/hdr`, { headers: { 'x-id': 'x'.repeat(8000) } }),
      headerMatch: await get(`${gw.url}/hdr`, { headers: { 'x-id': `${'x'.repeat(8000)}y` } }),
    };
    console.log(
      `ReDoS answers (ms): ${Object.entries(results)
        .map(([k, r]) => `${k} ${r.ms} (${r.status})`)
        .join(', ')}`,
    );
    expect(results.match.status).toBe(200);
    expect(results.miss.status).toBe(404);
    expect([404, 414]).toContain(results.tenThousand.status); // the request line bound may answer first
    expect(results.header.status).toBe(404);
    expect(results.headerMatch.status).toBe(200);
    for (const r of Object.values(results)) expect(r.ms).toBeLessThan(250);
    await stillServes(gw, baseline);
  });

  it('an alias bomb is refused naming the file; the last good config keeps serving', async () => {
    const before = await rejected(gw);
    writeFileSync(join(dir, 'bomb.yaml'), aliasBomb());
    await eventually('the bomb rejected', async () => ((await rejected(gw)) > before ? true : undefined), 10_000, 50);
    expect(log(gw)).toContain('bomb.yaml: aliases expand the documents beyond');
    await stillServes(gw, baseline);
    rmSync(join(dir, 'bomb.yaml'));
  });

  it('a document nested 10^5 deep is refused naming the file', async () => {
    const before = await rejected(gw);
    writeFileSync(join(dir, 'deep.yaml'), '['.repeat(100_000) + ']'.repeat(100_000));
    await eventually('the deep file rejected', async () => ((await rejected(gw)) > before ? true : undefined), 10_000, 50);
    expect(log(gw)).toContain('deep.yaml: not valid YAML: nesting exceeded maxDepth');
    await stillServes(gw, baseline);
    rmSync(join(dir, 'deep.yaml'));
  });

  it('a file over 16 MiB is refused naming the file', async () => {
    const before = await rejected(gw);
    writeFileSync(join(dir, 'huge.yaml'), Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
    await eventually('the huge file rejected', async () => ((await rejected(gw)) > before ? true : undefined), 10_000, 50);
    expect(log(gw)).toContain('huge.yaml: larger than 16777216 bytes');
    await stillServes(gw, baseline);
    rmSync(join(dir, 'huge.yaml'));
  });

  it('a FIFO in the folder is skipped with a warning; later changes still load', async () => {
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    writeFileSync(join(dir, 'after-fifo.yaml'), route('after-fifo', '/after-fifo'));
    await eventually(
      'the route written after the FIFO served',
      async () => ((await get(`${gw.url}/after-fifo`)).status === 200 ? true : undefined),
      10_000,
      50,
    );
    expect(log(gw)).toContain('pipe.yaml: not a regular file (a FIFO, socket or device); skipped');
    await stillServes(gw, baseline);
    rmSync(join(dir, 'pipe.yaml'));
  });

  it('an invalid edit of a serving route is logged and counted, and the previous version keeps serving', async () => {
    expect((await get(`${gw.url}/live/v1`)).status).toBe(200);
    const before = await rejected(gw);
    // The route's pattern breaks (a lookahead is not RE2); in the same change a new route appears.
    writeFileSync(join(dir, 'live.yaml'), `${route('live', '/live/(?!admin).*', 'RegularExpression')}---\n${route('beside', '/beside')}`);
    await eventually(
      'the new route beside it served',
      async () => ((await get(`${gw.url}/beside`)).status === 200 ? true : undefined),
      10_000,
      50,
    );
    expect((await get(`${gw.url}/live/v2`)).status).toBe(200); // the previous version
    expect((await get(`${gw.url}/live/other`)).status).toBe(404); // not the broken one
    expect(await rejected(gw)).toBe(before + 1);
    expect(log(gw)).toMatch(
      /"msg":"change rejected; the previous version keeps serving".*"kind":"HTTPRoute".*"name":"live".*not valid RE2 syntax/,
    );
    await stillServes(gw, baseline);
  });

  it('the folder deleted: the last config keeps serving; created again: watched and loaded', async () => {
    rmSync(dir, { recursive: true });
    await eventually('the folder reported gone', async () => (log(gw).includes('config folder is gone') ? true : undefined), 10_000, 50);
    await stillServes(gw, baseline);
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.yaml'), `${base()}---\n${route('reborn', '/reborn')}`);
    await eventually('the new folder loaded', async () => ((await get(`${gw.url}/reborn`)).status === 200 ? true : undefined), 10_000, 100);
    expect(log(gw)).toContain('config folder is back; watching it again');
    // And watched: a change in the new folder loads.
    writeFileSync(join(dir, 'later.yaml'), route('later', '/later'));
    await eventually(
      'a change in the new folder loaded',
      async () => ((await get(`${gw.url}/later`)).status === 200 ? true : undefined),
      10_000,
      50,
    );
    await stillServes(gw, baseline);
  });

  it('a 2 MB config is loaded off the request path: traffic is answered within the bound during the reload', async () => {
    const bulk = bulkRoutes(2 * 1024 * 1024);
    const last = `${gw.url}/bulk/${bulk.routes - 1}/b`;
    let worst = 0;
    let probes = 0;
    let loaded = false;
    const probing = (async () => {
      while (!loaded) {
        const r = await get(`${gw.url}/api/probe`);
        expect(r.status).toBe(200);
        worst = Math.max(worst, r.ms);
        probes++;
        await sleep(5);
      }
    })();
    await expect.poll(() => probes).toBeGreaterThan(0); // traffic is flowing before the write
    const t = clock.now();
    writeFileSync(join(dir, 'bulk.yaml'), bulk.text);
    await eventually(
      'the bulk routes served',
      async () => ((await get(last, { method: 'POST' })).status === 200 ? true : undefined),
      60_000,
      100,
    );
    const reloadMs = clock.now() - t;
    loaded = true;
    await probing;
    console.log(`2 MB config (${bulk.routes} routes): loaded in ${reloadMs} ms; ${probes} probes meanwhile, slowest ${worst} ms`);
    expect(worst).toBeLessThan(SERVE_BOUND_MS);
    await stillServes(gw, baseline);
    rmSync(join(dir, 'bulk.yaml'));
  });
});

describe('credentials never leave a request in the clear', () => {
  it('an x-api-key limit and hot-key source put no key into Redis, /metrics, /admin/hotkeys or the log', async () => {
    const redisUrl = inject('redisUrl');
    const policy = `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: keys, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  store: Redis
  failureMode: { mode: Closed }
  limits:
  - { name: per-key, scope: Header, header: x-api-key, rate: { requests: 1000, per: 1m } }
  - { name: per-auth, scope: Header, header: authorization, rate: { requests: 1000, per: 1m } }
  hotspot:
    parameters: [{ source: Header, name: x-api-key }, { source: Header, name: authorization }]
    window: 10s
    minRequests: 10
    activateSharePercent: 30
    deactivateSharePercent: 10
    cooldown: 10s
    limit: { rate: { requests: 1000, per: 1s }, burst: 1000 }
`;
    const dir = tempDir('jarvis-hostile-keys-');
    writeFileSync(join(dir, 'config.yaml'), standaloneConfig(upstream.port, policy));
    const gw = await startGateway({ name: 'hostile-keys', args: ['--config', dir, '--redis', redisUrl, '--log-level', 'debug'] });
    gateways.push(gw);
    const baseline = await rss(gw);
    const key = `sk-live-${clock.now().toString(36)}-e2e-secret`;
    const token = `Bearer tok-${clock.now().toString(36)}-e2e-secret`;
    for (let i = 0; i < 30; i++) {
      const r = await get(`${gw.url}/api/x`, { headers: { 'x-api-key': key, authorization: token } });
      expect(r.status).toBe(200);
    }
    const hot = await get(`${gw.adminUrl}/admin/hotkeys`);
    expect(hot.body).toMatch(/"value":"#cred:[A-Za-z0-9_-]{22}"/);
    const metrics = await get(`${gw.adminUrl}/metrics`);
    expect(metrics.body).toContain('jarvis_gateway_hotkey_share');
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const keys = await redis.keys('jarvis:rl:*');
    redis.disconnect();
    expect(keys.some((k) => /:H:#[A-Za-z0-9_-]{22}$/.test(k))).toBe(true);
    for (const text of [hot.body, metrics.body, keys.join('\n'), log(gw)]) {
      expect(text).not.toContain('sk-live-');
      expect(text).not.toContain('tok-');
    }
    await stillServes(gw, baseline);
  });

  it('a Redis password never shows in an error or a log line', async () => {
    const closed = await freePort();
    const dir = tempDir('jarvis-hostile-redis-');
    writeFileSync(join(dir, 'config.yaml'), standaloneConfig(upstream.port));
    const gw = await startGateway({
      name: 'hostile-redis-pw',
      args: ['--config', dir, '--redis', `redis://default:pw-s3cret-e2e@127.0.0.1:${closed}`, '--log-level', 'debug'],
    });
    gateways.push(gw);
    await eventually('a Redis error logged', async () => (log(gw).includes('"msg":"redis error"') ? true : undefined), 10_000, 100);
    expect(log(gw)).not.toContain('pw-s3cret-e2e');
    await stillServes(gw, await rss(gw));
    // A URL the gateway refuses is not echoed either.
    const child = spawn(process.execPath, [gatewayMain, '--config', dir, '--redis', 'rediss:/default:pw-s3cret-e2e@127.0.0.1:6379'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(out).toContain('--redis: expected redis://[USER:PASSWORD@]HOST:PORT, got "rediss:/***@127.0.0.1:6379"');
    expect(out).not.toContain('pw-s3cret-e2e');
  });
});

describe('a damaged state file', () => {
  it('"backends": "nope" is refused like xDS input: the gateway starts without it instead of with zero backends', async () => {
    const stateDir = tempDir('jarvis-hostile-state-');
    const config = {
      gateway: { id: 'e2e/gw', routes: [] },
      backends: 'nope',
      version: 'v1',
      versions: {},
    };
    writeFileSync(join(stateDir, 'last-good-config.json'), JSON.stringify(config));
    const xds = await freePort(); // nothing listens: the operator is away
    const gw = await startGateway({
      name: 'hostile-state',
      args: ['--xds', `127.0.0.1:${xds}`, '--gateway', 'e2e/gw', '--state-dir', stateDir],
      waitReady: false,
    });
    gateways.push(gw);
    await eventually('the state refused', async () => (log(gw).includes('"msg":"state unreadable"') ? true : undefined), 10_000, 100);
    expect(log(gw)).toContain('last-good-config.json: backends: must be a list');
    expect(log(gw)).not.toContain('started from the persisted config');
    expect((await get(`${gw.adminUrl}/readyz`)).status).toBe(503);
    const r = await get(`${gw.url}/api/x`);
    expect(r.status).toBe(503); // not ready, not a 500 from a config without backends
    expect(r.ms).toBeLessThan(SERVE_BOUND_MS);
  });
});

describe('operator: an invalid edit of a serving HTTPRoute', () => {
  const NS = 'hostile-e2e';
  let kubectl: Kubectl;
  let operator: OperatorProcess | undefined;
  let gw: GatewayProcess | undefined;

  const httpRoute = (pattern: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: live, namespace: ${NS} }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ matches: [{ path: { type: RegularExpression, value: "${pattern}" } }], backendRefs: [{ name: upstream, port: 80 }] }]
`;

  beforeAll(async () => {
    kubectl = kubectlFor(inject('kubeconfig'));
    await kubectl(['create', 'namespace', NS]);
    await applyGatewayClass(kubectl);
    await kubectl.ok(['apply', '-f', '-'], {
      input: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: ${NS} }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
---
apiVersion: v1
kind: Service
metadata: { name: upstream, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: upstream-1, namespace: ${NS}, labels: { kubernetes.io/service-name: upstream } }
addressType: FQDN
ports: [{ name: http, port: ${upstream.port} }]
endpoints: [{ addresses: [upstream.localhost] }]
---
${httpRoute('/live/v[0-9]+')}`,
    });
    await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
    operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-hostile' });
    gw = await startGateway({ name: 'hostile-xds', args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/edge`] });
    gateways.push(gw);
  });

  afterAll(async () => {
    await operator?.stop();
    await kubectl(['delete', 'httproute,gateway,service,endpointslice', '--all', '-n', NS, '--ignore-not-found']);
  });

  it('keeps serving the previous version, says why in the route status, and counts it', async () => {
    const g = gw!;
    await eventually('the route serving', async () => ((await get(`${g.url}/live/v1`)).status === 200 ? true : undefined), 15_000, 100);
    const baseline = await rss(g);
    await kubectl.ok(['apply', '-f', '-'], { input: httpRoute('/live/(?!admin).*') });
    const status = await eventually(
      'Accepted=False on the new generation',
      async () => {
        const r = JSON.parse(await kubectl.ok(['get', 'httproute', 'live', '-n', NS, '-o', 'json'])) as {
          metadata: { generation: number };
          status?: {
            parents?: { conditions?: { type: string; status: string; reason: string; message: string; observedGeneration: number }[] }[];
          };
        };
        const accepted = r.status?.parents?.[0]?.conditions?.find((c) => c.type === 'Accepted');
        return accepted && accepted.status === 'False' && accepted.observedGeneration === r.metadata.generation ? accepted : undefined;
      },
      15_000,
      100,
    );
    expect(status.reason).toBe('UnsupportedValue');
    expect(status.message).toMatch(
      /invalid regular expression "\/live\/\(\?!admin\)\.\*": not valid RE2 syntax.*; generation 1 keeps serving/,
    );
    expect(await operator!.metric('jarvis_operator_rejected_changes_total', { kind: 'HTTPRoute' })).toBe(1);
    expect(await operator!.metric('jarvis_operator_retained_objects', { kind: 'HTTPRoute' })).toBe(1);
    expect(readFileSync(operator!.logFile, 'utf8')).toMatch(/"msg":"change rejected; the previous version keeps serving".*"name":"live"/);
    // Traffic keeps being served by generation 1 (give a push time to arrive, were one sent).
    await sleep(500);
    for (const path of ['/live/v1', '/live/v42']) expect((await get(`${g.url}${path}`)).status).toBe(200);
    expect((await get(`${g.url}/live/other`)).status).toBe(404);
    expect(await rss(g)).toBeLessThan(baseline + RSS_GROWTH_BOUND);
    // A valid edit is served again.
    await kubectl.ok(['apply', '-f', '-'], { input: httpRoute('/live/.*') });
    await eventually(
      'the fixed route serving',
      async () => ((await get(`${g.url}/live/other`)).status === 200 ? true : undefined),
      15_000,
      100,
    );
    expect(await operator!.metric('jarvis_operator_retained_objects', { kind: 'HTTPRoute' })).toBeUndefined();
  });
});
