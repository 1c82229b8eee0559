import { describe, expect, it } from 'vitest';
import { parseInvalidateRequest } from './admin.js';
import { decodeInvalidation, encodeInvalidation, MAX_NAMES } from './bus.js';

const KEY = 'a'.repeat(43);

describe('invalidation requests (admin API) and messages (pub/sub)', () => {
  it('reads a valid request', () => {
    expect(parseInvalidateRequest({ policy: 'jarvis/retrieve-cache', tags: ['doc:1', 'doc:1', 'kb/faq'] })).toEqual({
      policy: 'jarvis/retrieve-cache',
      tags: ['doc:1', 'kb/faq'],
      keys: [],
      all: false,
    });
    expect(parseInvalidateRequest({ keys: [KEY] })).toEqual({ tags: [], keys: [KEY], all: false });
    expect(parseInvalidateRequest({ all: true })).toEqual({ tags: [], keys: [], all: true });
  });

  it.each([
    [null, /JSON object/],
    [[], /JSON object/],
    [{}, /nothing to invalidate/],
    [{ all: false }, /nothing to invalidate/],
    [{ tags: 'doc:1' }, /tags must be a list/],
    [{ tags: ['#all'] }, /tags\[0\]/],
    [{ tags: [''] }, /tags\[0\]/],
    [{ keys: ['short'] }, /keys\[0\]: a key is 43/],
    [{ policy: 'nope', all: true }, /policy must be/],
    [{ all: 'yes' }, /all must be/],
    [{ tag: ['x'] }, /unknown field tag/],
    [{ tags: Array.from({ length: MAX_NAMES + 1 }, (_, i) => `t${i}`) }, /at most/],
  ])('refuses %j', (body, message) => {
    expect(parseInvalidateRequest(body)).toMatch(message);
  });

  it('messages round-trip; anything else is ignored', () => {
    const text = encodeInvalidation('gw-a', { policy: 'ns/p', tags: ['t'], keys: [KEY], all: false });
    expect(decodeInvalidation(text)).toEqual({ from: 'gw-a', policy: 'ns/p', tags: ['t'], keys: [KEY], all: false });
    for (const bad of [
      'not json',
      '[]',
      '{"v":2,"from":"x","policy":"p","tags":[],"keys":[],"all":false}',
      '{"v":1,"from":"x","policy":"p","tags":"t","keys":[],"all":false}',
      '{"v":1,"from":"x","policy":"p","tags":[1],"keys":[],"all":false}',
      '{"v":1,"from":"x","policy":"p","tags":[],"keys":[],"all":"no"}',
      JSON.stringify({ v: 1, from: 'x', policy: 'p', tags: Array(MAX_NAMES + 1).fill('t'), keys: [], all: false }),
    ])
      expect(decodeInvalidation(bad)).toBeUndefined();
  });
});
