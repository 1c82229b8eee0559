/**
 * Identity from the cluster and status on the targets, with the real apiserver, the real operator
 * and the real gateway over xDS: a ClientIdentityPolicy with JWT keys in a Secret, a JWKS URL the
 * gateway fetches (a server on loopback) and API keys in labelled Secrets. Keys rotated in a Secret
 * are in force at the gateway within 2 s, without a restart; a deleted API key stops working
 * within 2 s; `kubectl describe httproute` names the policies that affect it; the GatewayClass is
 * Accepted and the Gateway Accepted and Programmed while traffic flows — and Programmed follows
 * the gateways; other controllers' conditions survive our writes.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { clock, sleep } from '../src/clock.js';
import { eventually, applyGatewayClass } from '../src/cluster.js';
import { startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'identity-e2e';
const ISSUER = 'https://idp.identity-e2e.test/';
const REMOTE_ISSUER = 'https://partner.identity-e2e.test/';
const KEY_1 = 'e2e-api-key-one-7f3c9a1b2d4e';
const KEY_2 = 'e2e-api-key-two-0a8b6c4d2e1f';

let kubectl: Kubectl;
let operator: OperatorProcess | undefined;
let gateway: GatewayProcess | undefined;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let jwksServer: http.Server;
let jwksUrl = '';
let remoteDocument = '';
const stateDir = mkdtempSync(join(tmpdir(), 'jarvis-identity-state-'));

interface Signer {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

function signer(kid: string): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' } };
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An ES256 JWT, signed with node:crypto. */
function jwt(s: Signer, claims: Record<string, unknown> = {}, issuer = ISSUER): string {
  const now = Math.floor(clock.now() / 1000);
  const input = `${b64url({ alg: 'ES256', kid: s.kid, typ: 'JWT' })}.${b64url({ iss: issuer, aud: 'api', sub: 'alice', tenant: 'acme', exp: now + 600, ...claims })}`;
  const signature = sign('sha256', Buffer.from(input), { key: s.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const jwks = (...signers: Signer[]) => JSON.stringify({ keys: signers.map((s) => s.jwk) });
const b64 = (s: string) => Buffer.from(s).toString('base64');

const a = signer('key-a');
const b = signer('key-b');
const r1 = signer('remote-1');
const r2 = signer('remote-2');

async function call(
  headers: Record<string, string>,
): Promise<{ status: number; body: { tenant?: string | null; user?: string | null; detail?: string } }> {
  const res = await fetch(`${gateway!.url}/api/hello`, { headers });
  return { status: res.status, body: (await res.json()) as { tenant?: string | null; user?: string | null; detail?: string } };
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Polls `probe` every 20 ms until it holds; returns the milliseconds it took from `since`. */
async function within(what: string, since: number, probe: () => Promise<boolean>, limitMs = 10_000): Promise<number> {
  for (;;) {
    if (await probe()) return clock.now() - since;
    if (clock.now() - since > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(20);
  }
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl.ok(['get', ...args, '-o', 'json'])) as T;
}

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
type GatewayStatus = { status?: { conditions?: Cond[]; listeners?: { name: string; attachedRoutes: number; conditions: Cond[] }[] } };
const cond = (list: readonly Cond[] | undefined, type: string) => list?.find((c) => c.type === type);

const identityPolicy = (jwksSecret = 'idp-jwks') => `apiVersion: stability.jarvis.io/v1alpha1
kind: ClientIdentityPolicy
metadata: { name: edge-identity, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  jwt:
    required: true
    providers:
      - name: idp
        issuer: ${ISSUER}
        audiences: [api]
        algorithms: [ES256]
        keys: { secretRef: { name: ${jwksSecret} } }
      - name: partner
        issuer: ${REMOTE_ISSUER}
        audiences: [api]
        algorithms: [ES256]
        keys: { remote: { uri: '${jwksUrl}', refreshInterval: 10s, timeout: 2s } }
  apiKeys:
    secretSelector: { matchLabels: { stability.jarvis.io/identity: api-keys, team: platform } }
`;

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  upstream = await startUpstream();
  remoteDocument = jwks(r1);
  jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(remoteDocument));
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;

  await kubectl(['create', 'namespace', NS]);
  await applyGatewayClass(kubectl);
  await kubectl.ok(['apply', '-f', '-'], {
    input: `${platformYaml({ namespace: NS, gateway: 'edge', service: 'upstream', route: 'api', pathPrefix: '/api', endpoint: { host: 'upstream.localhost', port: upstream.port } })}---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: api-limits, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  store: Memory
  limits: [{ name: per-tenant, scope: Tenant, algorithm: FixedWindow, rate: { requests: 100000, per: 1h } }]
---
apiVersion: v1
kind: Secret
metadata:
  name: idp-jwks
  namespace: ${NS}
  labels: { stability.jarvis.io/identity: jwks }
data: { jwks.json: ${b64(jwks(a))} }
---
apiVersion: v1
kind: Secret
metadata:
  name: platform-keys
  namespace: ${NS}
  labels: { stability.jarvis.io/identity: api-keys, team: platform }
  annotations: { stability.jarvis.io/tenant: platform, stability.jarvis.io/user: ingest-bot }
data: { one: ${b64(KEY_1)}, two: ${b64(`${KEY_2}\n`)} }
---
# Not labelled for identity: the operator never reads it, so its key counts for nothing.
apiVersion: v1
kind: Secret
metadata: { name: unlabelled-keys, namespace: ${NS}, labels: { team: platform } }
data: { three: ${b64('e2e-api-key-never-read-000')} }
---
${identityPolicy()}`,
  });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-identity' });
  gateway = await startGateway({
    name: 'gw-identity',
    args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/edge`, '--state-dir', stateDir],
  });
  await eventually(
    'the identity in force at the gateway',
    async () => ((await call(bearer(jwt(a)))).status === 200 ? true : undefined),
    30_000,
  );
});

afterAll(async () => {
  await gateway?.stop();
  await operator?.stop();
  await upstream?.close();
  jwksServer?.closeAllConnections();
  await new Promise((resolve) => jwksServer?.close(resolve));
  await kubectl(['delete', 'namespace', NS, '--wait=false']);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('identity from the cluster', () => {
  it('identifies by a token verified with the Secret’s keys, by API keys from labelled Secrets, and refuses anything else', async () => {
    expect(await call(bearer(jwt(a)))).toMatchObject({ status: 200, body: { tenant: 'acme', user: 'alice' } });
    expect(await call({ 'x-api-key': KEY_1 })).toMatchObject({ status: 200, body: { tenant: 'platform', user: 'ingest-bot' } });
    expect(await call({ 'x-api-key': KEY_2 })).toMatchObject({ status: 200, body: { tenant: 'platform' } }); // a trailing newline is not part of the key
    expect((await call({ 'x-api-key': 'e2e-api-key-never-read-000' })).status).toBe(401);
    expect((await call(bearer(jwt(b)))).status).toBe(401);
    expect((await call({})).status).toBe(401); // required: no credentials, no entry
    // Forged identity headers from a client that is no trusted proxy never reach the upstream.
    expect(await call({ ...bearer(jwt(a)), 'x-tenant-id': 'forged' })).toMatchObject({ body: { tenant: 'acme' } });
  });

  it('sends the gateways only digests of the API keys, never a key', async () => {
    const config = (await (await fetch(`${gateway!.adminUrl}/admin/config`)).json()) as { identity: string };
    expect(config.identity).toBe(`ClientIdentityPolicy ${NS}/edge-identity`);
    // What the gateway received over xDS, as it keeps it on disk: the digests, never a key.
    const state = await eventually('the state file', async () => {
      try {
        return readFileSync(join(stateDir, 'last-good-config.json'), 'utf8');
      } catch {
        return undefined;
      }
    });
    for (const key of [KEY_1, KEY_2]) {
      expect(state).toContain(createHash('sha256').update(key).digest('hex'));
      expect(state).not.toContain(key);
    }
    const policy = await getJson<{ status: { conditions: Cond[] } }>(['clientidentitypolicy', 'edge-identity', '-n', NS]);
    expect(cond(policy.status.conditions, 'Accepted')).toMatchObject({ status: 'True' });
    expect(cond(policy.status.conditions, 'ResolvedRefs')).toMatchObject({
      status: 'True',
      reason: 'ResolvedRefs',
      message: 'Resolved: 1 JWKS key from 1 Secret, 2 API keys from 1 Secret.',
    });
    await eventually('Enforced', async () => {
      const p = await getJson<{ status: { conditions: Cond[] } }>(['clientidentitypolicy', 'edge-identity', '-n', NS]);
      return cond(p.status.conditions, 'Enforced')?.status === 'True' ? true : undefined;
    });
    for (const key of [KEY_1, KEY_2]) expect(readFileSync(gateway!.logFile, 'utf8')).not.toContain(key);
  });

  it('JWT keys rotated in a Secret are in force at the gateway within 2 s, without a restart', async () => {
    const pid = gateway!.child.pid;
    const tokenA = jwt(a);
    const tokenB = jwt(b);
    expect((await call(bearer(tokenA))).status).toBe(200);
    expect((await call(bearer(tokenB))).status).toBe(401);
    await kubectl.ok([
      'patch',
      'secret',
      'idp-jwks',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'jwks.json': b64(jwks(b)) } }),
    ]);
    const patched = clock.now();
    const newKey = await within('key B accepted', patched, async () => (await call(bearer(tokenB))).status === 200);
    const oldKey = await within('key A refused', patched, async () => (await call(bearer(tokenA))).status === 401);
    process.stderr.write(`[identity] rotated JWT key in force after ${newKey} ms, old key refused after ${oldKey} ms\n`);
    expect(newKey).toBeLessThan(2000);
    expect(oldKey).toBeLessThan(2000);
    expect(gateway!.child.pid).toBe(pid);
    expect(gateway!.child.exitCode).toBeNull();
    expect(await call(bearer(tokenA))).toMatchObject({ status: 401, body: { detail: 'no configured key has kid "key-a" for ES256' } });
  });

  it('an API key deleted from its Secret stops working within 2 s; the others keep working', async () => {
    expect((await call({ 'x-api-key': KEY_1 })).status).toBe(200);
    await kubectl.ok(['patch', 'secret', 'platform-keys', '-n', NS, '--type=json', '-p', '[{"op":"remove","path":"/data/one"}]']);
    const patched = clock.now();
    const gone = await within('key one refused', patched, async () => (await call({ 'x-api-key': KEY_1 })).status === 401);
    process.stderr.write(`[identity] deleted API key refused after ${gone} ms\n`);
    expect(gone).toBeLessThan(2000);
    expect(await call({ 'x-api-key': KEY_1 })).toMatchObject({ status: 401, body: { detail: 'the key in x-api-key is not known' } });
    expect((await call({ 'x-api-key': KEY_2 })).status).toBe(200);
  });

  it('fetches a JWKS URL, and fetches it again when a token names a key it does not have', async () => {
    expect(await call(bearer(jwt(r1, {}, REMOTE_ISSUER)))).toMatchObject({ status: 200, body: { tenant: 'acme' } });
    remoteDocument = jwks(r1, r2); // rotated at the provider; the gateway's copy is up to 10 s from its refresh
    // The unknown key id makes the gateway fetch again at once — or, when its last fetch started
    // less than 1 s ago (an identity change since), as soon as that gap has passed: well before
    // the 10 s refresh.
    await eventually(
      'the new key fetched early',
      async () => ((await call(bearer(jwt(r2, {}, REMOTE_ISSUER)))).status === 200 ? true : undefined),
      3000,
      250,
    );
    expect((await call(bearer(jwt(r2, {}, ISSUER)))).status).toBe(401); // a key of one issuer verifies nothing of another
  });

  it('a Secret that is missing is ResolvedRefs=False naming it, and the tokens it would verify are refused', async () => {
    await kubectl.ok(['apply', '-f', '-'], { input: identityPolicy('no-such-secret') });
    const p = await eventually('ResolvedRefs False', async () => {
      const got = await getJson<{ status: { conditions: Cond[] } }>(['clientidentitypolicy', 'edge-identity', '-n', NS]);
      return cond(got.status.conditions, 'ResolvedRefs')?.status === 'False' ? got : undefined;
    });
    expect(cond(p.status.conditions, 'ResolvedRefs')).toMatchObject({
      reason: 'SecretNotFound',
      message: expect.stringContaining(`spec.jwt.providers[0].keys.secretRef: Secret ${NS}/no-such-secret not found`),
    });
    await eventually('tokens of the provider refused', async () => ((await call(bearer(jwt(b)))).status === 401 ? true : undefined));
    expect((await call({ 'x-api-key': KEY_2 })).status).toBe(200);
    await kubectl.ok(['apply', '-f', '-'], { input: identityPolicy() });
    await eventually('tokens accepted again', async () => ((await call(bearer(jwt(b)))).status === 200 ? true : undefined));
  });
});

describe('status on the targets', () => {
  it('kubectl describe httproute shows the policies that affect the route', async () => {
    const out = await eventually('Affected conditions on the route', async () => {
      const text = await kubectl.ok(['describe', 'httproute', 'api', '-n', NS]);
      return text.includes('stability.jarvis.io/RateLimitPolicyAffected') &&
        text.includes('stability.jarvis.io/ClientIdentityPolicyAffected')
        ? text
        : undefined;
    });
    expect(out).toContain(`Affected by RateLimitPolicy ${NS}/api-limits.`);
    expect(out).toContain(`Affected by ClientIdentityPolicy ${NS}/edge-identity.`);
    expect(out).toContain('Controller Name:         stability.jarvis.io/gateway-controller');
  });

  it('the GatewayClass is Accepted and the Gateway Accepted and Programmed while traffic flows, with its listener and attached routes', async () => {
    const gw = await eventually('Gateway Programmed', async () => {
      const g = await getJson<GatewayStatus>(['gateway', 'edge', '-n', NS]);
      return cond(g.status?.conditions, 'Programmed')?.status === 'True' ? g : undefined;
    });
    expect((await call(bearer(jwt(b)))).status).toBe(200);
    expect(cond(gw.status?.conditions, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(cond(gw.status?.conditions, 'Programmed')).toMatchObject({
      status: 'True',
      reason: 'Programmed',
      message: expect.stringContaining('gw-identity'),
    });
    expect(cond(gw.status?.conditions, 'stability.jarvis.io/ClientIdentityPolicyAffected')).toMatchObject({
      status: 'True',
      message: `Affected by ClientIdentityPolicy ${NS}/edge-identity.`,
    });
    const listener = gw.status?.listeners?.find((l) => l.name === 'http');
    expect(listener?.attachedRoutes).toBe(1);
    expect(listener?.conditions.map((c) => [c.type, c.status])).toEqual([
      ['Accepted', 'True'],
      ['ResolvedRefs', 'True'],
      ['Conflicted', 'False'],
      ['Programmed', 'True'],
    ]);
    const gc = await getJson<{ status?: { conditions?: Cond[] } }>(['gatewayclass', 'jarvis']);
    expect(cond(gc.status?.conditions, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    // kubectl get shows it the way Gateway API users look first.
    const table = await kubectl.ok(['get', 'gateway', 'edge', '-n', NS]);
    expect(table).toMatch(/edge\s+jarvis\s+\S*\s*True/);
  });

  it("keeps other controllers' conditions and parents, and Programmed follows the gateways", async () => {
    const foreign = {
      type: 'example.com/Audited',
      status: 'True',
      reason: 'Audited',
      message: 'by another controller',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    await kubectl.ok([
      'patch',
      'gateway',
      'edge',
      '-n',
      NS,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/status/conditions/-', value: foreign }]),
    ]);
    const otherParent = {
      parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'elsewhere', namespace: NS },
      controllerName: 'example.com/other-controller',
      conditions: [{ ...foreign, type: 'Accepted' }],
    };
    await kubectl.ok([
      'patch',
      'httproute',
      'api',
      '-n',
      NS,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/status/parents/-', value: otherParent }]),
    ]);

    // Our gateway goes away: Programmed turns False, Pending — and nothing of the others' is lost.
    await gateway!.stop();
    gateway = undefined;
    const down = await eventually('Programmed False', async () => {
      const g = await getJson<GatewayStatus>(['gateway', 'edge', '-n', NS]);
      return cond(g.status?.conditions, 'Programmed')?.status === 'False' ? g : undefined;
    });
    expect(cond(down.status?.conditions, 'Programmed')).toMatchObject({
      reason: 'Pending',
      message: expect.stringContaining('No gateway process'),
    });
    expect(cond(down.status?.conditions, 'example.com/Audited')).toMatchObject({ status: 'True', message: 'by another controller' });

    gateway = await startGateway({ name: 'gw-identity-2', args: ['--xds', operator!.xdsAddress, '--gateway', `${NS}/edge`] });
    const up = await eventually('Programmed True again', async () => {
      const g = await getJson<GatewayStatus>(['gateway', 'edge', '-n', NS]);
      return cond(g.status?.conditions, 'Programmed')?.status === 'True' ? g : undefined;
    });
    expect(cond(up.status?.conditions, 'Programmed')?.message).toContain('gw-identity-2');
    expect(cond(up.status?.conditions, 'example.com/Audited')).toBeDefined();
    expect((await call(bearer(jwt(b)))).status).toBe(200);
    const route = await getJson<{ status: { parents: { controllerName: string }[] } }>(['httproute', 'api', '-n', NS]);
    expect(route.status.parents.map((p) => p.controllerName).sort()).toEqual([
      'example.com/other-controller',
      'stability.jarvis.io/gateway-controller',
    ]);
  });
});
