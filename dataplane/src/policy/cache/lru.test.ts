import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import type { CachedResponse } from './entry.js';
import { L1Cache, MAX_PINS, type L1Item, type UpstreamAnswer } from './lru.js';

const response: CachedResponse = { status: 200, headers: {}, body: Buffer.alloc(0), storedAt: 0, freshUntil: 0, tags: [] };

function item(key: string, size = 100, t: { fresh?: number; keep?: number } = {}): L1Item {
  return {
    key,
    response,
    size,
    freshUntil: t.fresh ?? Number.MAX_SAFE_INTEGER,
    keepUntil: t.keep ?? Number.MAX_SAFE_INTEGER,
    seq: 0,
  };
}

const keys = (l1: L1Cache, all: readonly string[]): string[] => all.filter((k) => l1.get(k) !== undefined);

describe('L1 LRU', () => {
  it('holds at most maxEntries, evicting the least recently used', () => {
    const time = new ManualTime(0);
    const l1 = new L1Cache({ maxEntries: 3, maxBytes: 1e9 }, time);
    for (const k of ['a', 'b', 'c']) l1.set(item(k));
    l1.get('a'); // a is now the most recent: b goes first
    l1.set(item('d'));
    expect(l1.size).toBe(3);
    expect(keys(l1, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
    expect(l1.evictions).toBe(1);
  });

  it('keeps the recency order of a reference model through inserts, reads, replacements, deletes and a clear', () => {
    const time = new ManualTime(0);
    const l1 = new L1Cache({ maxEntries: 50, maxBytes: 1e9 }, time);
    // The reference: an array from least to most recently used.
    let model: string[] = [];
    const touch = (k: string): void => {
      model = model.filter((x) => x !== k);
      model.push(k);
    };
    let seed = 7;
    const next = (n: number): number => (seed = (seed * 48271) % 2147483647) % n;
    for (let step = 0; step < 5000; step++) {
      const k = `k${next(120)}`;
      const op = next(10);
      if (op < 5) {
        l1.set(item(k));
        touch(k);
        if (model.length > 50) model.shift();
      } else if (op < 9) {
        const hit = l1.get(k) !== undefined;
        expect(hit).toBe(model.includes(k));
        if (hit) touch(k);
      } else {
        expect(l1.delete(k)).toBe(model.includes(k));
        model = model.filter((x) => x !== k);
      }
      if (step === 2500) {
        l1.clear();
        model = [];
      }
      expect(l1.size).toBe(model.length);
    }
    // The order: filling up with fresh keys evicts exactly the model's entries, oldest first.
    expect(model.length).toBe(50);
    const order = [...model];
    for (let i = 0; i < order.length; i++) {
      l1.set(item(`fresh${i}`));
      expect(l1.get(order[i] as string)).toBeUndefined();
    }
    expect(l1.bytes).toBe(50 * 100);
  });

  it('holds at most maxBytes', () => {
    const l1 = new L1Cache({ maxEntries: 1000, maxBytes: 1000 }, new ManualTime(0));
    for (let i = 0; i < 25; i++) {
      l1.set(item(`k${i}`, 300));
      expect(l1.bytes).toBeLessThanOrEqual(1000);
    }
    expect(l1.size).toBe(3);
    expect(keys(l1, ['k22', 'k23', 'k24'])).toEqual(['k22', 'k23', 'k24']);
    // An entry larger than the whole level is refused, and leaves the rest alone.
    expect(l1.set(item('huge', 1001))).toBe(false);
    expect(l1.size).toBe(3);
  });

  it('replacing a key adjusts the byte count', () => {
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1000 }, new ManualTime(0));
    l1.set(item('a', 400));
    l1.set(item('a', 100));
    expect([l1.size, l1.bytes]).toEqual([1, 100]);
    expect(l1.delete('a')).toBe(true);
    expect([l1.size, l1.bytes]).toEqual([0, 0]);
  });

  it('drops an entry once its keepUntil has passed (injected clock)', () => {
    const time = new ManualTime(1000);
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1e6 }, time);
    l1.set(item('a', 100, { fresh: 1500, keep: 2000 }));
    time.advance(600); // stale, still kept
    expect(l1.get('a')?.freshUntil).toBe(1500);
    time.advance(399);
    expect(l1.get('a')).toBeDefined();
    time.advance(1);
    expect(l1.get('a')).toBeUndefined();
    expect([l1.size, l1.bytes]).toEqual([0, 0]);
    // Already past it: not stored at all.
    expect(l1.set(item('b', 100, { keep: 2000 }))).toBe(false);
  });

  it('passes over pinned entries while they are pinned, and evicts them after', () => {
    const time = new ManualTime(0);
    const l1 = new L1Cache({ maxEntries: 4, maxBytes: 1e9 }, time);
    for (const k of ['hot', 'a', 'b', 'c']) l1.set(item(k));
    expect(l1.pin('hot', 1000)).toBe(true);
    for (const k of ['d', 'e', 'f', 'g']) l1.set(item(k));
    expect(l1.get('hot')).toBeDefined();
    expect(l1.size).toBe(4);
    time.advance(1000); // the pin lapsed: now it is just an entry
    l1.get('g');
    for (const k of ['h', 'i', 'j', 'k']) l1.set(item(k));
    expect(l1.get('hot')).toBeUndefined();
    expect(l1.pinnedCount).toBe(0);
  });

  it('bounds the pins: at most half the entries and bytes (and MAX_PINS), so inserts always fit', () => {
    const time = new ManualTime(0);
    const l1 = new L1Cache({ maxEntries: 4, maxBytes: 1000 }, time);
    for (const k of ['a', 'b', 'c']) l1.set(item(k, 200));
    expect(l1.pin('a', 10)).toBe(true);
    expect(l1.pin('b', 10)).toBe(true);
    expect(l1.pin('c', 10)).toBe(false); // 2 of 4 entries pinned already
    for (let i = 0; i < 10; i++) expect(l1.set(item(`n${i}`, 200))).toBe(true);
    expect(l1.isPinned('a') && l1.isPinned('b')).toBe(true);
    expect(l1.size).toBeLessThanOrEqual(4);
    expect(l1.bytes).toBeLessThanOrEqual(1000);
    // Bytes: a pin may not take more than half of maxBytes.
    const small = new L1Cache({ maxEntries: 100, maxBytes: 1000 }, time);
    small.set(item('big', 600));
    expect(small.pin('big', 10)).toBe(false);
    // A lapsed pin makes room for a new one.
    time.advance(10);
    expect(l1.pin('n9', 20)).toBe(true);
    expect(MAX_PINS).toBeGreaterThan(0);
  });

  it('an entry that cannot fit beside the pinned ones is refused', () => {
    const l1 = new L1Cache({ maxEntries: 100, maxBytes: 1000 }, new ManualTime(0));
    l1.set(item('p', 500));
    expect(l1.pin('p', 10)).toBe(true);
    expect(l1.set(item('x', 501))).toBe(false);
    expect(l1.set(item('y', 500))).toBe(true);
    expect(l1.get('p')).toBeDefined();
  });

  it('stores upstream answers in entries it took out before, each read giving back its own answer', () => {
    const time = new ManualTime(1_796_000_000_000);
    const l1 = new L1Cache({ maxEntries: 5, maxBytes: 1e9 }, time);
    const answer = (i: number): UpstreamAnswer => ({
      key: `k${i}`,
      status: 200 + (i % 3),
      pairs: ['etag', `"${i}"`],
      // Bodies of changing sizes: buffers are reused when they fit, replaced when not.
      chunks: [Buffer.from(`body ${i} `.repeat(1 + ((i * 7) % 40)))],
      bodySize: `body ${i} `.length * (1 + ((i * 7) % 40)),
      tags: [],
      seq: 0,
      storedAt: time.now(),
      responseFreshUntil: time.now() + 1000,
      freshUntil: time.now() + 1000,
      keepUntil: time.now() + 2000,
    });
    const read = [];
    for (let i = 0; i < 300; i++) {
      expect(l1.setAnswer(answer(i))).toBe(true);
      expect(l1.size).toBe(Math.min(i + 1, 5));
      // The five latest are there, each with its own answer; the one before them is gone.
      for (let j = Math.max(0, i - 4); j <= i; j++) {
        const r = l1.get(`k${j}`)?.response;
        expect(r?.status).toBe(200 + (j % 3));
        expect(r?.headers).toEqual({ etag: `"${j}"` });
        expect(r?.body.toString()).toBe(`body ${j} `.repeat(1 + ((j * 7) % 40)));
        if (j === i && i % 50 === 0) read.push({ i, r });
      }
      if (i >= 5) expect(l1.get(`k${i - 5}`)).toBeUndefined();
    }
    // What was read of an entry before it was reused is unchanged.
    for (const { i, r } of read) expect(r?.body.toString()).toBe(`body ${i} `.repeat(1 + ((i * 7) % 40)));
    let bytes = 0;
    for (let j = 295; j < 300; j++) bytes += l1.get(`k${j}`)?.size ?? 0;
    expect(l1.bytes).toBe(bytes);
  });

  it('refuses an answer past its keep time, or larger than what the pins leave, and drops the one under its key', () => {
    const time = new ManualTime(0);
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 2000 }, time);
    const answer = (key: string, size: number, keepUntil = 100): UpstreamAnswer => ({
      key,
      status: 200,
      pairs: [],
      chunks: [Buffer.alloc(size)],
      bodySize: size,
      tags: [],
      seq: 0,
      storedAt: 0,
      responseFreshUntil: 50,
      freshUntil: 50,
      keepUntil,
    });
    expect(l1.setAnswer(answer('a', 10))).toBe(true);
    time.advance(100);
    expect(l1.setAnswer(answer('a', 10))).toBe(false);
    expect(l1.get('a')).toBeUndefined();
    expect(l1.setAnswer(answer('b', 500, 1000))).toBe(true);
    expect(l1.pin('b', 1000)).toBe(true);
    expect(l1.setAnswer(answer('c', 2000 - 256 - 756 + 1, 1000))).toBe(false);
    expect(l1.setAnswer(answer('c', 2000 - 256 - 756, 1000))).toBe(true);
    expect(l1.bytes).toBe(2000 - 756 + 756);
  });
});
