import { describe, expect, it } from 'vitest';
import { Lru } from './lru.js';

const present = (l: Lru<string, number>, keys: readonly string[]): string[] => keys.filter((k) => l.get(k) !== undefined);

describe('Lru', () => {
  it('evicts the least recently used; a read or a write makes a key the most recent', () => {
    const l = new Lru<string, number>(3);
    l.set('a', 1);
    l.set('b', 2);
    l.set('c', 3);
    expect(l.get('a')).toBe(1); // order now b, c, a
    l.set('b', 20); // replaced, now the most recent: c, a, b
    l.set('d', 4); // evicts c
    expect(l.size).toBe(3);
    expect(l.get('c')).toBeUndefined();
    expect(l.get('b')).toBe(20);
    l.set('e', 5); // order was a, d, b (the reads above): evicts a
    expect(present(l, ['a', 'b', 'd', 'e'])).toEqual(['b', 'd', 'e']);
  });

  it('delete and clear keep the order of the rest, and a size of 0 keeps nothing', () => {
    const l = new Lru<string, number>(2);
    l.set('a', 1);
    l.set('b', 2);
    l.delete('a');
    l.delete('nope');
    l.set('c', 3);
    l.set('d', 4); // evicts b
    expect(present(l, ['a', 'b', 'c', 'd'])).toEqual(['c', 'd']);
    l.clear();
    expect(l.size).toBe(0);
    l.set('x', 1);
    expect(l.get('x')).toBe(1);
    const none = new Lru<string, number>(0);
    none.set('a', 1);
    expect(none.size).toBe(0);
    expect(() => new Lru(-1)).toThrow(RangeError);
  });

  it('stays bounded through a long churn of distinct keys', () => {
    const l = new Lru<number, number>(100);
    for (let i = 0; i < 20_000; i++) l.set(i, i);
    expect(l.size).toBe(100);
    expect(l.get(19_899)).toBeUndefined();
    expect(l.get(19_900)).toBe(19_900);
  });
});
