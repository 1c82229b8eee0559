import { describe, expect, it } from 'vitest';
import { hasStackTrace, logLines } from './logs.js';

describe('logLines', () => {
  it('parses JSON log lines and keeps other lines raw', () => {
    expect(logLines('{"level":"error","msg":"cannot start: x","component":"c"}\nplain\n\n')).toEqual([
      { level: 'error', msg: 'cannot start: x', component: 'c' },
      { level: 'raw', msg: 'plain' },
    ]);
  });
});

describe('hasStackTrace', () => {
  it('finds a raw stack and one inside a JSON field', () => {
    const err = new Error('boom');
    expect(hasStackTrace(err.stack ?? '')).toBe(true);
    expect(hasStackTrace(JSON.stringify({ level: 'error', stack: err.stack }))).toBe(true);
    expect(hasStackTrace('{"level":"error","msg":"cannot start: --config /x: no such directory"}')).toBe(false);
  });
});
