/**
 * `npm run demo -- --cluster`, run the way a newcomer runs it (scripts/demo.mjs, its own test
 * control plane, Redis for the limits): while it runs, the test follows the instructions it
 * prints (kubectl get; patch gateway-defaults' per-IP limit to 3/min, then the curl loop of a new
 * client gets exactly three 200s and then 429s), and scrapes the gateway's and the operator's
 * /metrics: every metric the chart's PrometheusRule and Grafana dashboard name is exported by
 * those real processes (the expressions themselves parsed by Prometheus's own parser). At the end
 * the demo reports the policies as the cluster has them: every example Accepted, every
 * RateLimitPolicy Enforced=True, and its traffic answered 200 and 429 as the policies say.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkDashboard,
  checkPrometheusRule,
  ensureChartTools,
  type ExprCheck,
  type Exposition,
  mergeExpositions,
  objectsOf,
  only,
  parseExposition,
  render,
} from '../src/chart/index.js';
import { eventually } from '../src/cluster.js';
import { freePorts } from '../src/envtest/ports.js';
import { loadManifests, validExampleFiles } from '../src/examples.js';
import { kubectlFor } from '../src/kubectl.js';
import { repoRoot } from '../src/paths.js';
import { ensureRedis, type RedisServer } from '../src/redis/index.js';
import { run } from '../src/util/exec.js';
import { stopChild, trackChild } from '../src/util/processes.js';

const DURATION_S = 20;

interface Banner {
  kubeconfig: string;
  gatewayUrl: string;
  adminUrl: string;
  operatorHealthUrl: string;
  patch: string;
  probe: string;
}

interface Report {
  policies: { kind: string; name: string; accepted: string; enforced: string; enforcedReason: string }[];
  routes: Record<string, { statuses: Record<string, number>; rejectedBy: Record<string, number> }>;
}

let redis: RedisServer;
let demo: ChildProcess;
const stdout: string[] = [];
let stderr = '';
let exited: Promise<number>;
let banner: Banner;
let pages: Exposition;

/** Resolves with the first line matching `re` (already printed or still to come). */
function lineMatching(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return eventually(
    `a line matching ${re} from the demo (stderr: ${stderr.slice(-2000)})`,
    async () => {
      for (const line of stdout) {
        const m = re.exec(line);
        if (m) return m;
      }
      if (demo.exitCode !== null) throw new Error(`the demo exited ${demo.exitCode}:\n${stdout.join('\n')}\n${stderr}`);
      return undefined;
    },
    timeoutMs,
    100,
  );
}

async function scrape(url: string): Promise<Exposition> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

beforeAll(async () => {
  // A private Redis: the limits' counters start at zero, whatever else ran before.
  const [redisPort, listen, admin] = await freePorts(3);
  redis = await ensureRedis(`redis://127.0.0.1:${redisPort}`);
  demo = spawn(
    process.execPath,
    [
      'scripts/demo.mjs',
      '--cluster',
      '--duration',
      String(DURATION_S),
      '--listen',
      `127.0.0.1:${listen}`,
      '--admin-listen',
      `127.0.0.1:${admin}`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: redis.url } },
  );
  trackChild(demo);
  createInterface({ input: demo.stdout! }).on('line', (line) => stdout.push(line));
  demo.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  exited = new Promise((resolve) => demo.once('exit', (code) => resolve(code ?? -1)));

  const gw = await lineMatching(/^ {2}gateway (\S+) \(admin (\S+)\).*health (\S+)$/, 240_000);
  banner = {
    gatewayUrl: gw[1] ?? '',
    adminUrl: gw[2] ?? '',
    operatorHealthUrl: gw[3] ?? '',
    kubeconfig: (await lineMatching(/^ {2}export KUBECONFIG=(\S+)$/, 1_000))[1] ?? '',
    patch: (await lineMatching(/^ {2}(kubectl patch ratelimitpolicy gateway-defaults .*)$/, 1_000))[1] ?? '',
    probe: (await lineMatching(/^ {2}(for i in .*; echo)$/, 1_000))[1] ?? '',
  };
}, 300_000);

afterAll(async () => {
  await stopChild(demo, 30_000).catch(() => undefined);
  await redis?.stop();
});

describe('npm run demo -- --cluster', () => {
  it('prints kubectl commands that work on its cluster', async () => {
    const kubectl = kubectlFor(banner.kubeconfig);
    const listed = await kubectl.ok(['get', 'jarvis', '-n', 'jarvis']);
    const examplePolicies = validExampleFiles()
      .flatMap(loadManifests)
      .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));
    for (const p of examplePolicies) expect(listed).toContain(p.metadata.name);
    expect(await kubectl.ok(['get', 'endpointslices', '-n', 'jarvis', '-o', 'jsonpath={.items[*].endpoints[*].addresses[*]}'])).toContain(
      'chat-api.localhost',
    );
  });

  it('…and the printed patch takes effect: a new client gets exactly 3 answers, then 429', async () => {
    await lineMatching(/^── 00:0\d ──/, 30_000); // traffic is flowing
    const env = { ...process.env, KUBECONFIG: banner.kubeconfig };
    await run('bash', ['-c', banner.patch], { timeoutMs: 30_000, env });
    const kubectl = kubectlFor(banner.kubeconfig);
    await eventually('gateway-defaults Enforced=True at its new generation', async () => {
      const p = JSON.parse(await kubectl.ok(['get', 'ratelimitpolicy', 'gateway-defaults', '-n', 'jarvis', '-o', 'json'])) as {
        metadata: { generation: number };
        status?: { observedGeneration?: number; conditions?: { type: string; status: string; observedGeneration?: number }[] };
      };
      const enforced = p.status?.conditions?.find((c) => c.type === 'Enforced');
      return p.metadata.generation === 2 && enforced?.status === 'True' && enforced.observedGeneration === 2 ? true : undefined;
    });
    const { stdout: out } = await run('bash', ['-c', banner.probe], { timeoutMs: 30_000, env });
    const codes = out.trim().split(' ');
    console.log(`[demo] after the patch, a new client got: ${codes.join(' ')}`);
    // Exactly 200 200 200 429 429 — unless Redis misses gateway-defaults' 50 ms timeout on a
    // loaded machine, when its failure mode (Open) admits that one request.
    expect(codes.slice(0, 3)).toEqual(['200', '200', '200']);
    expect(codes.slice(3)).toContain('429');
  });

  it('exports every metric that the PrometheusRule and the Grafana dashboard read, from the real gateway and operator', async () => {
    const tools = await ensureChartTools();
    const objects = objectsOf(await render(tools.helm));
    const rules = await checkPrometheusRule(tools.rulecheck, only(objects, 'PrometheusRule'));
    const configMap = only(objects, 'ConfigMap', 'jarvis-stability-dashboard') as unknown as { data: Record<string, string> };
    const dashboard = await checkDashboard(tools.rulecheck, JSON.parse(configMap.data['jarvis-stability.json'] ?? '{}'));
    const bad = (list: readonly ExprCheck[]) => list.filter((c) => c.error).map((c) => `${c.where}: ${c.error}`);
    expect(bad(rules)).toEqual([]);
    expect(bad(dashboard)).toEqual([]);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    expect(dashboard.length).toBeGreaterThanOrEqual(25);

    // A few seconds of traffic, so that the families filled by requests have samples.
    await lineMatching(/^── 00:(0[6-9]|1\d) ──/, 30_000);
    pages = mergeExpositions([await scrape(banner.adminUrl), await scrape(banner.operatorHealthUrl)]);
    const missing = (list: readonly ExprCheck[]) =>
      list.flatMap((c) => c.metrics.filter((m) => !pages.declared.has(m)).map((m) => `${c.where}: ${m}`));
    expect(missing(rules)).toEqual([]);
    expect(missing(dashboard)).toEqual([]);

    const used = new Set([...rules, ...dashboard].flatMap((c) => c.metrics));
    const withoutSamples = [...used].filter((m) => !pages.sampled.has(m)).sort();
    console.log(
      `[metrics] ${used.size} metric names used by the rule and the dashboard; declared but without samples yet: ${withoutSamples.join(', ')}`,
    );
    // Only counters of rare events may still be empty after traffic.
    expect(withoutSamples.filter((m) => !/_(nacks|errors)_total$/.test(m))).toEqual([]);
  });

  it('ends with every example Accepted, every RateLimitPolicy Enforced=True, and 200s and 429s as the policies say', async () => {
    const code = await exited;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout.at(-1) ?? '{}') as Report;
    const examples = validExampleFiles()
      .flatMap(loadManifests)
      .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));
    expect(report.policies.map((p) => p.name).sort()).toEqual(examples.map((m) => m.metadata.name).sort());
    for (const p of report.policies) {
      expect(p.accepted, `${p.kind} ${p.name}`).toBe('True');
      expect(['True', 'False'], `${p.kind} ${p.name} has an Enforced condition`).toContain(p.enforced);
      if (p.enforced === 'False') expect(p.enforcedReason, `${p.kind} ${p.name}`).not.toBe('');
    }
    const limits = report.policies.filter((p) => p.kind === 'RateLimitPolicy');
    expect(limits.length).toBe(3);
    for (const p of limits) expect(p.enforced, p.name).toBe('True');
    // The table printed before the JSON says the same.
    expect(stdout.some((l) => /^ {2}RateLimitPolicy\s+chat-limits\s+True\s+True$/.test(l))).toBe(true);

    // Which levels may reject on which route: the RateLimitPolicies attached to it (targetRefs).
    type Rlp = {
      metadata: { namespace: string; name: string };
      spec: { targetRefs: { kind: string; name: string }[]; limits: { name: string }[] };
    };
    const rlps = examples.filter((m) => m.kind === 'RateLimitPolicy') as unknown as Rlp[];
    const levelsOf = (route: string) =>
      new Set(
        rlps
          .filter((p) => p.spec.targetRefs.some((t) => t.kind === 'Gateway' || (t.kind === 'HTTPRoute' && t.name === route)))
          .flatMap((p) => [...p.spec.limits.map((l) => `${p.metadata.namespace}/${p.metadata.name}/${l.name}`)]),
      );
    for (const [route, counts] of Object.entries(report.routes)) {
      const allowed = levelsOf(route);
      for (const rejectedBy of Object.keys(counts.rejectedBy)) {
        if (rejectedBy.startsWith('upstream ')) continue; // a mock's own injected 429
        for (const level of rejectedBy.split('+')) expect(allowed, `${route}: 429 by ${level}`).toContain(level);
      }
    }
    const chat = report.routes['chat'];
    expect(chat?.statuses['200']).toBeGreaterThan(0);
    expect(chat?.statuses['429']).toBeGreaterThan(0);
    expect(Object.keys(chat?.rejectedBy ?? {}).some((l) => l.includes('jarvis/chat-limits/chat-global'))).toBe(true);
    // chat-global: 100 per minute (a sliding-window counter: at most 100 in any minute, up to
    // about 100 · D/60 more when the run crosses a minute boundary).
    expect(chat?.statuses['200'] ?? 0).toBeLessThanOrEqual(Math.ceil(100 * (1 + DURATION_S / 60)));
    expect(report.routes['retrieve']?.statuses['200']).toBeGreaterThan(0);
  });
});
