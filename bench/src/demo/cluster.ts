/**
 * `npm run demo -- --cluster`: the Jarvis platform on a real Kubernetes API — the test control
 * plane (etcd + kube-apiserver, e2e/src/envtest) or an existing cluster (`--kubeconfig`), our CRDs
 * and the Gateway API's, examples/ applied with kubectl, EndpointSlices that point each Service at
 * its mock (FQDN `<service>.localhost`, one port per mock: the apiserver refuses loopback IPs),
 * the operator, and a gateway that gets its configuration from the operator over xDS, with Redis
 * ($REDIS_URL, else a private redis-server when one is installed) for the limits. It prints
 * the kubectl commands to try, sends traffic, and at the end reports every example policy's
 * Accepted and Enforced conditions as the cluster has them. The last line is one JSON object:
 * `{policies: [{kind, name, accepted, enforced, enforcedReason}], routes: {route: {status: n}},
 * rejectedBy: {level: n}}`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { systemClock, systemTimers } from '@jarvis/api';
import { startControlPlane, type ControlPlane } from '@jarvis/e2e/dist/envtest/control-plane.js';
import { gatewayApiCrdFiles, installCrds, repoCrdFiles } from '@jarvis/e2e/dist/envtest/crds.js';
import { examplesDir, validExampleFiles } from '@jarvis/e2e/dist/examples.js';
import { kubectlFor, type Kubectl } from '@jarvis/e2e/dist/kubectl.js';
import { freePort } from '@jarvis/e2e/dist/envtest/ports.js';
import { startOperator, type OperatorProcess } from '@jarvis/e2e/dist/operator.js';
import { ensureRedis, type RedisServer } from '@jarvis/e2e/dist/redis/index.js';
import { which } from '@jarvis/e2e/dist/util/exec.js';
import { tailFile } from '@jarvis/e2e/dist/util/files.js';
import { trackDir } from '@jarvis/e2e/dist/util/processes.js';
import { type RunningMocks, startMocks } from '@jarvis/mocks';

import { type RunningGateway, GATEWAY_MAIN, gatewayAvailable, startGateway } from '../harness/gateway.js';
import { endpointSlice } from '../harness/manifests.js';
import { toYamlDocuments } from '../harness/yaml.js';
import { exampleServices, hotkeys, listenAddress, mockFor, DEMO_IDENTITY_FILE } from './platform.js';
import type { DemoOptions } from './run.js';
import { DemoSummary } from './summary.js';
import { type Traffic, startTraffic } from './traffic.js';

const REPORT_EVERY_MS = 2_000;
/** The examples' namespace and Gateway. */
const NAMESPACE = 'jarvis';
const GATEWAY = `${NAMESPACE}/jarvis-gateway`;
/** Our own Lease, so that an operator already running on the cluster keeps its own. */
const LEASE = 'jarvis-demo';

export interface PolicyCondition {
  kind: string;
  name: string;
  accepted: string;
  enforced: string;
  enforcedReason: string;
  enforcedMessage: string;
}

interface Listed {
  items: {
    kind: string;
    metadata: { name: string };
    status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
  }[];
}

/** Every policy of our kinds in the namespace, with its conditions as the cluster has them. */
export async function policyConditions(kubectl: Kubectl, namespace = NAMESPACE): Promise<PolicyCondition[]> {
  const listed = JSON.parse(await kubectl.ok(['get', 'jarvis', '-n', namespace, '-o', 'json'])) as Listed;
  return listed.items
    .map((p) => {
      const c = (type: string) => p.status?.conditions?.find((x) => x.type === type);
      return {
        kind: p.kind,
        name: p.metadata.name,
        accepted: c('Accepted')?.status ?? 'Unknown',
        enforced: c('Enforced')?.status ?? 'Unknown',
        enforcedReason: c('Enforced')?.reason ?? '',
        enforcedMessage: c('Enforced')?.message ?? '',
      };
    })
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}

/** The conditions as a table, one policy per line. */
export function renderConditions(list: readonly PolicyCondition[]): string[] {
  const kindWidth = Math.max(4, ...list.map((p) => p.kind.length));
  const nameWidth = Math.max(4, ...list.map((p) => p.name.length));
  return [
    `  ${'KIND'.padEnd(kindWidth)}  ${'NAME'.padEnd(nameWidth)}  ACCEPTED  ENFORCED`,
    ...list.map(
      (p) =>
        `  ${p.kind.padEnd(kindWidth)}  ${p.name.padEnd(nameWidth)}  ${p.accepted.padEnd(8)}  ${p.enforced}` +
        (p.enforced !== 'True' && p.enforcedReason
          ? ` (${p.enforcedReason}${p.enforcedMessage ? `: ${p.enforcedMessage.slice(0, 100)}` : ''})`
          : ''),
    ),
  ];
}

function banner(kubeconfig: string, ours: boolean, gateway: RunningGateway, operator: OperatorProcess, mocks: RunningMocks): string {
  const g = gateway.url;
  const h = `-H 'content-type: application/json' -H 'x-tenant-id: acme' -H 'x-user-id: alice' -H 'x-forwarded-for: 203.0.113.10'`;
  // gateway-defaults' per-IP limit (600/min) covers every route; the retriever's traffic sees it alone.
  const patch = `'[{"op":"test","path":"/spec/limits/0/name","value":"per-ip"},{"op":"replace","path":"/spec/limits/0/rate/requests","value":3}]'`;
  const probe = `-H 'content-type: application/json' -H 'x-forwarded-for: 198.51.100.77' -d '{"query":"refunds","top_k":3}'`;
  return [
    '',
    `Jarvis Stability on a cluster — ${ours ? 'the test control plane (etcd + kube-apiserver)' : 'your cluster'}, the operator, one gateway over xDS`,
    `  gateway ${g} (admin ${gateway.adminUrl}), serving ${GATEWAY}; operator xDS ${operator.xdsAddress}, health ${operator.healthUrl}`,
    `  logs: ${gateway.logFile}, ${operator.logFile}`,
    `  mocks (EndpointSlices <service>.localhost): ${mocks.mocks.map((m) => `${m.name} :${m.port}`).join(', ')}`,
    '',
    `Try, while the demo runs${ours ? ' (the control plane goes away with it)' : ''}:`,
    `  export KUBECONFIG=${kubeconfig}`,
    `  kubectl get jarvis -n ${NAMESPACE}                              # every policy: ACCEPTED, ENFORCED`,
    `  kubectl describe ratelimitpolicy chat-limits -n ${NAMESPACE}    # conditions with reasons, observedGeneration`,
    `  kubectl describe httproute chat -n ${NAMESPACE}                 # the policies that affect the route`,
    `  kubectl get gateway,gatewayclass -n ${NAMESPACE}                # Accepted, Programmed while traffic flows`,
    `  kubectl get endpointslices -n ${NAMESPACE}                      # the mocks behind the Services`,
    `  kubectl get ratelimitpolicy gateway-defaults -n ${NAMESPACE} -w &    # watch the generation change…`,
    `  kubectl patch ratelimitpolicy gateway-defaults -n ${NAMESPACE} --type=json -p ${patch}`,
    `  # …per-ip is now 3/min on every route: a new client gets 3 answers, then 429s (and the`,
    `  # retrieve line of the summary below starts showing 429 by gateway-defaults/per-ip):`,
    `  for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} ' ${g}/api/v1/retrieve ${probe}; done; echo`,
    `  curl -si ${g}/api/v1/chat ${h} -d '{"message":"hello"}'       # a 429's body names the policy and level`,
    `  curl -s ${gateway.adminUrl}/metrics | grep ^jarvis_gateway_`,
    `  curl -s ${operator.healthUrl}/metrics | grep ^jarvis_operator_`,
    '',
  ].join('\n');
}

/** Waits until every RateLimitPolicy is Enforced=True (what the gateway enforces today), up to `timeoutMs`. */
async function waitRateLimitsEnforced(kubectl: Kubectl, timeoutMs: number): Promise<PolicyCondition[]> {
  const until = systemClock.now() + timeoutMs;
  for (;;) {
    const list = await policyConditions(kubectl);
    const limits = list.filter((p) => p.kind === 'RateLimitPolicy');
    if ((limits.length > 0 && limits.every((p) => p.enforced === 'True')) || systemClock.now() > until) return list;
    await new Promise<void>((resolve) => systemTimers.after(250, resolve));
  }
}

/**
 * The Redis the examples' limits share (their default store): $REDIS_URL, else a private
 * redis-server on a free port when one is installed, else none.
 */
async function demoRedis(say: (line: string) => void): Promise<RedisServer | undefined> {
  const url = process.env['REDIS_URL'];
  if (url) return ensureRedis(url, { log: say });
  if (!(await which('redis-server'))) return undefined;
  return ensureRedis(`redis://127.0.0.1:${await freePort()}`, { log: say });
}

export async function runClusterDemo(opts: DemoOptions): Promise<number> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const say = (line: string): void => void process.stderr.write(`[demo] ${line}\n`);
  if (!gatewayAvailable()) {
    say(`the gateway is not built: ${GATEWAY_MAIN} is missing (npm run build).`);
    return 1;
  }
  const root = await mkdtemp(join(tmpdir(), 'jarvis-demo-cluster-'));
  const forgetRoot = trackDir(root);
  let cp: ControlPlane | undefined;
  let kubectl: Kubectl | undefined;
  let mocks: RunningMocks | undefined;
  let operator: OperatorProcess | undefined;
  let gateway: RunningGateway | undefined;
  let traffic: Traffic | undefined;
  let redis: RedisServer | undefined;
  let report: { cancel(): void } | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const slices = join(root, 'endpointslices.yaml');
  try {
    let kubeconfig: string;
    if (opts.kubeconfig !== undefined) {
      kubeconfig = opts.kubeconfig;
      kubectl = kubectlFor(kubeconfig);
      const hasGatewayApi = (await kubectl(['get', 'crd', 'httproutes.gateway.networking.k8s.io'])).code === 0;
      say(`using the cluster of ${kubeconfig}; installing our CRDs${hasGatewayApi ? '' : ' and the Gateway API CRDs'}`);
      await installCrds({ kubeconfig }, [...(hasGatewayApi ? [] : await gatewayApiCrdFiles()), ...(await repoCrdFiles())]);
    } else {
      say('starting the test control plane (etcd + kube-apiserver; built with Go the first time, which takes minutes)');
      cp = await startControlPlane({ dir: root, log: (line) => say(line) });
      kubeconfig = cp.kubeconfig;
      kubectl = kubectlFor(kubeconfig);
      await installCrds(cp, [...(await gatewayApiCrdFiles()), ...(await repoCrdFiles())]);
      say('Gateway API and Jarvis Stability CRDs installed');
    }
    if (interrupted) return 130;

    await kubectl.ok(['apply', '-f', examplesDir]);
    const services = exampleServices(validExampleFiles());
    mocks = await startMocks({ mocks: services.map((s) => mockFor(s.name)) });
    const running = mocks;
    await writeFile(
      slices,
      toYamlDocuments(
        services.map((s) =>
          endpointSlice({
            namespace: s.namespace,
            service: s.name,
            ...(s.portName !== undefined ? { portName: s.portName } : {}),
            port: running.get(s.name).port,
          }),
        ),
      ),
    );
    await kubectl.ok(['apply', '-f', slices]);
    say(`applied examples/ and ${services.length} EndpointSlices (FQDN <service>.localhost, one port per mock)`);

    operator = await startOperator({ kubeconfig, id: 'jarvis-demo-operator', extraArgs: ['--lease-name', LEASE] });
    redis = await demoRedis(say);
    const redisUrl = redis?.url;
    say(
      `starting the gateway over xDS${redisUrl ? ` with Redis ${redisUrl}` : ' without Redis: policies with store: Redis apply their failure mode'}`,
    );
    gateway = await startGateway({
      xds: { target: operator.xdsAddress, gateway: GATEWAY },
      identityFile: DEMO_IDENTITY_FILE,
      listen: await listenAddress(opts.listen, 8080),
      adminListen: await listenAddress(opts.adminListen, 9901),
      logFile: join(root, 'gateway.log'),
      extraArgs: ['--node-id', 'jarvis-demo-gateway'],
      ...(redisUrl ? { redisUrl } : { acceptNotReadyAfterMs: 5_000 }),
    });
    const before = await waitRateLimitsEnforced(kubectl, 30_000);
    out(banner(kubeconfig, cp !== undefined, gateway, operator, mocks));
    out('Policies when the traffic starts:');
    for (const line of renderConditions(before)) out(line);
    out('');
    out(
      `Traffic: ${opts.rate} requests/s from acme, globex, initech, umbrella (eve of acme is the busy one). ${opts.durationS ? `Stops after ${opts.durationS} s.` : 'Ctrl-C stops.'}\n`,
    );

    const summary = new DemoSummary();
    const started = systemClock.now();
    let last = started;
    traffic = startTraffic({ gatewayUrl: gateway.url, rate: opts.rate, timers: systemTimers, onOutcome: (o) => summary.record(o) });
    const gw = gateway;
    const code = await new Promise<number>((done) => {
      const tick = (): void => {
        void hotkeys(gw.adminUrl).then((hot) => {
          const now = systemClock.now();
          out(summary.render((now - started) / 1000, (now - last) / 1000, hot).join('\n'));
          last = now;
          if (gw.exited()) {
            void tailFile(gw.logFile, 20).then((tail) => {
              say(`the gateway exited; last lines of its log:\n${tail}`);
              done(1);
            });
            return;
          }
          if (interrupted || (opts.durationS !== undefined && now - started >= opts.durationS * 1000)) done(0);
          else report = systemTimers.after(REPORT_EVERY_MS, tick);
        });
      };
      report = systemTimers.after(REPORT_EVERY_MS, tick);
    });
    report?.cancel();
    await traffic.stop();
    traffic = undefined;

    const after = await policyConditions(kubectl);
    out('');
    out(`Policies as the cluster reports them (kubectl get jarvis -n ${NAMESPACE}):`);
    for (const line of renderConditions(after)) out(line);
    out(JSON.stringify({ policies: after, ...summary.counts() }));
    return code;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    report?.cancel();
    await traffic?.stop();
    await gateway?.stop();
    await operator?.stop();
    await mocks?.close();
    await redis?.stop();
    // On a cluster of yours, only the EndpointSlices pointing at this machine's mocks are removed.
    if (!cp && kubectl) await kubectl(['delete', '-f', slices, '--ignore-not-found']).catch(() => undefined);
    await cp?.stop();
    await rm(root, { recursive: true, force: true });
    forgetRoot();
  }
}
