import type { CacheIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { UpstreamHead } from '../../proxy/headers.js';
import { Miss } from './miss.js';
import { PolicyCache } from './policy.js';

const IR: CacheIR = {
  namespace: 'ns/c',
  ttlMs: 60_000,
  methods: ['GET'],
  statuses: [200],
  key: { query: 'All', headers: [], body: false, isolation: 'None' },
  maxBodyBytes: 1 << 20,
  respectCacheControl: true,
  l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 60_000 },
  l2: { enabled: false, ttlMs: 60_000 },
  coalescing: { enabled: true, maxWaitMs: 5000, acrossReplicas: false },
  invalidation: { tagsHeader: 'x-cache-tags', maxTagsPerEntry: 8, crossInstance: true },
  source: { kind: 'CachePolicy', namespace: 'ns', name: 'c', generation: 1 },
};

describe('storing a miss', () => {
  it('keeps a body of its own, not the network buffer its chunks were views of', () => {
    const time = new ManualTime(0);
    const policy = new PolicyCache(IR, { clock: time, timers: time });
    const miss = new Miss(
      { policy, ir: IR, l2: undefined, clock: time, pinMs: 1000, count: () => {} },
      'k',
      0,
      true,
      false,
      undefined,
      false,
    );
    const socketBuffer = Buffer.alloc(64 * 1024, 'x');
    miss.head(
      200,
      UpstreamHead.of({ 'Content-Type': 'text/plain', connection: 'keep-alive, x-hop', 'transfer-encoding': 'chunked', 'x-hop': '1' }),
    );
    miss.data(socketBuffer.subarray(0, 3));
    miss.data(socketBuffer.subarray(100, 102));
    miss.end();
    const item = policy.lookup('k');
    expect(item?.response.body.toString()).toBe('xxxxx');
    expect(item?.response.body.buffer.byteLength).toBe(5);
    expect(item?.response.headers).toEqual({ 'content-type': 'text/plain' });
    expect(policy.l1.bytes).toBeLessThan(1024);
  });
});
