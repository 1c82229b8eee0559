/**
 * Memory of the in-process limiter store with 1 M distinct keys (one per client IP, as a scan or
 * a large user base would make them). Not a test: prints figures.
 *
 *     npx tsc -b dataplane && node --expose-gc dataplane/dist/policy/ratelimit/bench-memory.js [keys] [rounds]
 *
 * Prints one JSON line: heap and off-heap MB for the keys, bytes per key, RSS, and the live MB
 * after each further round of as many new keys (LRU eviction at the bound: it must stay flat).
 */
import { ManualTime } from '../../clock.js';
import { compileRouteLimiter } from './limiter.js';
import { createMemoryStore } from './memory-store.js';
import type { LimitRequest } from './types.js';

const KEYS = Number(process.argv[2] ?? 1_000_000);
/** Further rounds of as many new distinct keys, each evicting the previous round's. */
const ROUNDS = Number(process.argv[3] ?? 3);

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function mb(n: number): number {
  return Math.round((n / 1024 / 1024) * 10) / 10;
}

function usage(): { heap: number; external: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  // `external` includes the typed arrays' buffers (arrayBuffers is a part of it).
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

async function main(): Promise<void> {
  const time = new ManualTime();
  const before = usage();
  const memory = createMemoryStore({ clock: time, maxKeys: KEYS });
  const limiter = compileRouteLimiter(
    {
      levels: [
        {
          name: 'ip',
          counter: 'jarvis/chat/ip',
          key: [{ type: 'ClientIP' }],
          onMissingKey: 'Anonymous',
          algorithm: 'GCRA',
          limit: 10,
          periodMs: 1000,
          cost: { type: 'Fixed', amount: 1 },
          action: { type: 'Reject' },
          when: { methods: [], headers: [], queryParams: [] },
          tenantOverrides: [],
          plans: [],
          mode: 'Enforce',
          source: { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'chat', generation: 1 },
        },
      ],
      store: 'Memory',
      failureMode: { mode: 'Open', timeoutMs: 100, expectedReplicas: 1 },
      policies: [{ kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'chat', generation: 1 }],
    },
    { stores: { memory }, clock: time },
  );
  const req: LimitRequest = {
    routeId: 'r',
    serviceIds: [],
    clientIp: '',
    method: 'GET',
    path: '/',
    header: () => undefined,
    claim: () => undefined,
    queryParam: () => undefined,
    hot: [],
  };
  for (let i = 0; i < KEYS; i++) {
    req.clientIp = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    await limiter.check(req);
  }
  const filled = usage();
  // More full sets of distinct keys: the store must stay at its bound, memory flat.
  const rounds: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < KEYS; i++) {
      req.clientIp = `${round}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      await limiter.check(req);
    }
    const u = usage();
    rounds.push(mb(u.heap + u.external - before.heap - before.external));
  }
  const after = usage();
  const added = filled.heap + filled.external - before.heap - before.external;
  console.log(
    JSON.stringify({
      keys: KEYS,
      counters: memory.size(),
      heap_mb: mb(filled.heap - before.heap),
      offheap_mb: mb(filled.external - before.external),
      total_mb: mb(added),
      bytes_per_key: Math.round(added / KEYS),
      rss_baseline_mb: mb(before.rss),
      rss_mb: mb(filled.rss),
      rss_after_rounds_mb: mb(after.rss),
      total_mb_after_each_round: rounds,
      counters_after_rounds: memory.size(),
      gc_exposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    }),
  );
}

await main();
