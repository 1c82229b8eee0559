import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { run } from '@jarvis/e2e/dist/util/exec.js';
import { repoRoot } from '@jarvis/e2e/dist/paths.js';

import { BENCH_VARIANTS, benchGatewayArgs, benchLoadArgs, benchManifests, caching, endpointSlice, onRedis } from './manifests.js';
import { toYaml, toYamlDocuments } from './yaml.js';

describe('yaml', () => {
  it('writes block YAML and quotes what would read as something else', () => {
    expect(toYaml({ a: 'plain', b: 'yes', c: '8080', d: 1, e: [{ x: 'v', z: [] }], f: {}, g: 'with space', h: '' })).toBe(
      ['a: plain', 'b: "yes"', 'c: "8080"', 'd: 1', 'e:', '  - x: v', '    z: []', 'f: {}', 'g: "with space"', 'h: ""', ''].join('\n'),
    );
  });
});

describe('bench manifests', () => {
  it.each(BENCH_VARIANTS)('%s passes jarvis-policy validate --strict', async (variant) => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-bench-test-'));
    try {
      writeFileSync(join(dir, 'bench.yaml'), toYamlDocuments(benchManifests(variant, 40000, 40001)));
      const { stdout } = await run(process.execPath, [join(repoRoot, 'api', 'dist', 'cli', 'policy.js'), 'render', dir, '-o', 'json'], {
        timeoutMs: 20_000,
      });
      expect(stdout).toContain('bench-upstream.localhost');
      if (variant === 'fallback') {
        const ir = JSON.parse(stdout) as {
          gateways: { routes: { degradation?: { fallback?: { chain: { name: string; backend?: string }[] } } }[] }[];
        };
        expect(ir.gateways[0]?.routes[0]?.degradation?.fallback?.chain).toEqual([
          { name: 'primary', backend: 'bench/bench-primary:80' },
          { name: 'second', backend: 'bench/bench-upstream:80' },
        ]);
      }
      if (caching(variant)) {
        const ir = JSON.parse(stdout) as { gateways: { routes: { cache?: { l2: { enabled: boolean } } }[] }[] };
        expect(ir.gateways[0]?.routes[0]?.cache?.l2.enabled).toBe(onRedis(variant));
      }
      if (variant.startsWith('limits_')) expect(stdout).toContain(onRedis(variant) ? '"Redis"' : '"Memory"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs only the unbatched Redis variant with one EVALSHA per request', () => {
    expect(BENCH_VARIANTS.map((v) => benchGatewayArgs(v))).toEqual([[], [], [], ['--redis-max-batch', '1'], [], [], [], []]);
  });

  it('makes every request of the cache-miss variants distinct, and none of the others', () => {
    expect(BENCH_VARIANTS.filter((v) => benchLoadArgs(v).length > 0)).toEqual(['cache_miss', 'cache_miss_redis']);
  });

  it('points a Service at <service>.localhost on the mock port', () => {
    expect(endpointSlice({ namespace: 'jarvis', service: 'chat-api', portName: 'http', port: 4242 })).toMatchObject({
      addressType: 'FQDN',
      metadata: { labels: { 'kubernetes.io/service-name': 'chat-api' } },
      ports: [{ name: 'http', port: 4242 }],
      endpoints: [{ addresses: ['chat-api.localhost'] }],
    });
  });
});
