import { executionAsyncResource } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { pinTickShapes, pinnedTicks } from './tick-shapes.js';

/** A fresh tick object: the resource a nextTick callback runs in. */
function tickObject(...args: unknown[]): Promise<object> {
  return new Promise((resolve) => {
    process.nextTick(() => resolve(executionAsyncResource()), ...args);
  });
}

describe('pinTickShapes', () => {
  it('holds a tick object of each form, whose hidden class later ticks share after full GCs', async () => {
    setFlagsFromString('--allow-natives-syntax');
    setFlagsFromString('--expose-gc');
    // V8's own intrinsic, parsed only with --allow-natives-syntax.
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const gc = runInNewContext('gc') as () => void;

    pinTickShapes();
    await tickObject();
    const pinned = pinnedTicks();
    expect(pinned).toHaveLength(2);
    for (const t of pinned) {
      expect(t).toHaveProperty('callback');
      expect(Object.getOwnPropertySymbols(t)).toHaveLength(2); // the async id and the trigger id
    }
    expect((pinned[1] as { args?: unknown }).args).toEqual(['with-args']);

    pinTickShapes(); // idempotent
    await tickObject();
    expect(pinnedTicks()).toHaveLength(2);

    gc();
    gc();
    expect(sameMap(await tickObject(), pinned[0]!)).toBe(true);
    expect(sameMap(await tickObject('x'), pinned[1]!)).toBe(true);
  });
});
