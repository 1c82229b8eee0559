/** The e2e harness itself: a real kube-apiserver (envtest) and Redis. */
import { afterAll, describe, expect, inject, it } from 'vitest';

import '../src/setup/context.js';
import { endpointFromKubeconfig, request } from '../src/envtest/index.js';
import { testRedis, type TestRedis } from '../src/redis/index.js';
import { run } from '../src/util/exec.js';

const kubeconfig = inject('kubeconfig');

function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });
}

describe('control plane', () => {
  it('serves kube-apiserver v1.33.13', async () => {
    const { stdout } = await kubectl(['get', '--raw', '/version']);
    const version = JSON.parse(stdout) as { gitVersion?: unknown; major?: unknown; minor?: unknown };
    expect(version.gitVersion).toBe('v1.33.13');
  });

  it('gives the admin user every permission', async () => {
    const { stdout } = await kubectl(['auth', 'can-i', '*', '*', '--all-namespaces']);
    expect(stdout.trim()).toBe('yes');
    const whoami = await kubectl(['auth', 'whoami', '-o', 'json']);
    const review = JSON.parse(whoami.stdout) as { status?: { userInfo?: { username?: string; groups?: string[] } } };
    expect(review.status?.userInfo?.username).toBe('default');
    expect(review.status?.userInfo?.groups).toContain('system:masters');
  });

  it('serves the Gateway API standard kinds', async () => {
    const { stdout } = await kubectl(['api-resources', '--api-group=gateway.networking.k8s.io', '-o', 'name']);
    const names = stdout.trim().split('\n');
    expect(names).toEqual(
      expect.arrayContaining([
        'httproutes.gateway.networking.k8s.io',
        'gateways.gateway.networking.k8s.io',
        'gatewayclasses.gateway.networking.k8s.io',
        'grpcroutes.gateway.networking.k8s.io',
        'referencegrants.gateway.networking.k8s.io',
      ]),
    );
  });

  it('stores and validates an HTTPRoute', async () => {
    const endpoint = await endpointFromKubeconfig(kubeconfig);
    if (!endpoint) throw new Error(`${kubeconfig} has no client-certificate credentials`);
    const name = `harness-${process.pid}`;
    const base = '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes';
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name },
      spec: {
        parentRefs: [{ name: 'gw' }],
        rules: [{ backendRefs: [{ name: 'svc', port: 8080 }] }],
      },
    };
    const created = await request(endpoint, 'POST', base, route);
    expect(created.status, created.text).toBe(201);
    try {
      const got = await request(endpoint, 'GET', `${base}/${name}`);
      expect(got.status).toBe(200);
      expect(got.json).toMatchObject({ spec: { parentRefs: [{ name: 'gw' }] } });
      // The CRD's OpenAPI schema is enforced: a port out of range is rejected.
      const invalid = await request(endpoint, 'POST', base, {
        ...route,
        metadata: { name: `${name}-bad` },
        spec: { rules: [{ backendRefs: [{ name: 'svc', port: 70000 }] }] },
      });
      expect(invalid.status).toBe(422);
    } finally {
      await request(endpoint, 'DELETE', `${base}/${name}`);
    }
  });
});

describe('redis', () => {
  let t: TestRedis | undefined;
  afterAll(async () => {
    await t?.cleanup();
  });

  it('isolates keys under a per-run prefix and cleans them up', async () => {
    t = await testRedis('harness', { url: inject('redisUrl') });
    expect(t.prefix).toMatch(/^jarvis-test:\d+-[0-9a-f]+:harness:$/);
    const key = t.key('greeting');
    await t.redis.set(key, 'hello', 'PX', 60_000);
    await t.redis.set(t.key('other'), '1', 'EX', 60);
    expect(await t.redis.get(key)).toBe('hello');
    const ttl = await t.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await t.cleanup();
    const check = await testRedis('harness-check', { url: inject('redisUrl') });
    try {
      const [, left] = await check.redis.scan('0', 'MATCH', `${t.prefix}*`, 'COUNT', 10_000);
      expect(left).toEqual([]);
      expect(await check.redis.exists(key)).toBe(0);
    } finally {
      await check.cleanup();
    }
  });
});
