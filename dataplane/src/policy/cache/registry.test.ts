import type { CacheIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { CacheRegistry } from './registry.js';

function ir(name: string, ttlMs = 60_000, generation = 1): CacheIR {
  return {
    namespace: `ns/${name}`,
    ttlMs,
    methods: ['GET'],
    statuses: [200],
    key: { query: 'All', headers: [], body: false, isolation: 'None' },
    maxBodyBytes: 1000,
    respectCacheControl: true,
    l1: { maxEntries: 10, maxBytes: 10_000, ttlMs },
    l2: { enabled: false, ttlMs },
    coalescing: { enabled: true, maxWaitMs: 5000, acrossReplicas: false },
    invalidation: { tagsHeader: 'x-cache-tags', maxTagsPerEntry: 8, crossInstance: true },
    source: { kind: 'CachePolicy', namespace: 'ns', name, generation },
  };
}

describe('cache registry across config reloads', () => {
  it('one PolicyCache per policy per config, shared by its routes', () => {
    const time = new ManualTime(0);
    const registry = new CacheRegistry({ clock: time, timers: time });
    const pending = registry.prepare();
    expect(pending.cache(ir('a'))).toBe(pending.cache(ir('a')));
    expect(pending.cache(ir('a'))).not.toBe(pending.cache(ir('b')));
  });

  it('nothing is in force before commit, nothing after abort', () => {
    const time = new ManualTime(0);
    const registry = new CacheRegistry({ clock: time, timers: time });
    const pending = registry.prepare();
    pending.cache(ir('a'));
    expect(registry.policy('ns/a')).toBeUndefined();
    pending.abort();
    pending.commit();
    expect(registry.policy('ns/a')).toBeUndefined();
  });

  it('an unchanged policy adopts its predecessor’s state (a new generation alone changes nothing); a changed one starts empty', () => {
    const time = new ManualTime(0);
    const registry = new CacheRegistry({ clock: time, timers: time });
    const first = registry.prepare();
    const a1 = first.cache(ir('a'));
    const b1 = first.cache(ir('b'));
    first.commit();
    const second = registry.prepare();
    const a2 = second.cache(ir('a', 60_000, 7));
    const b2 = second.cache(ir('b', 30_000));
    second.commit();
    expect(a2.sharesStateWith(a1)).toBe(true);
    expect(b2.sharesStateWith(b1)).toBe(false);
    expect(registry.policies().map((p) => p.id)).toEqual(['ns/a', 'ns/b']);
    // A policy removed from the config is gone; invalidations naming it are refused.
    const third = registry.prepare();
    third.cache(ir('a'));
    third.commit();
    expect(registry.policy('ns/b')).toBeUndefined();
  });
});
