import { describe, expect, it } from 'vitest';
import { JsonUsageReader, MAX_SSE_LINE_BYTES, SseUsageScanner, usageOf, usageReader } from './usage.js';

const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 17, completion_tokens: 42, total_tokens: 59 } })}\n\n`;
const stream = [chunk('Hello'), chunk(' wörld ✓'), usageChunk, 'data: [DONE]\n\n'].join('');

describe('SSE usage scanner', () => {
  it('finds the usage chunk wherever the stream is split', () => {
    const bytes = Buffer.from(stream, 'utf8');
    for (let a = 0; a <= bytes.length; a++) {
      for (const b of [a, Math.min(bytes.length, a + 1), Math.min(bytes.length, a + 7), bytes.length]) {
        const s = new SseUsageScanner();
        s.push(bytes.subarray(0, a));
        s.push(bytes.subarray(a, b));
        s.push(bytes.subarray(b));
        expect(s.usage(), `split at ${a}, ${b}`).toEqual({ input: 17, output: 42, total: 59 });
      }
    }
  });

  it('finds it fed one byte at a time, with CRLF line ends', () => {
    const s = new SseUsageScanner();
    const bytes = Buffer.from(stream.replace(/\n/g, '\r\n'), 'utf8');
    for (let i = 0; i < bytes.length; i++) s.push(bytes.subarray(i, i + 1));
    expect(s.usage()).toEqual({ input: 17, output: 42, total: 59 });
  });

  it('reports none for a stream without usage, or one cut before its usage line ends', () => {
    const none = new SseUsageScanner();
    none.push(Buffer.from(chunk('a') + chunk('b') + 'data: [DONE]\n\n'));
    expect(none.usage()).toBeUndefined();
    const cut = new SseUsageScanner();
    cut.push(Buffer.from(chunk('a') + usageChunk.slice(0, usageChunk.length - 3)));
    expect(cut.usage()).toBeUndefined();
  });

  it('skips a line longer than its bound, and reads the lines after it', () => {
    const s = new SseUsageScanner();
    const long = `data: {"usage":{"prompt_tokens":1,"completion_tokens":1},"pad":"${'x'.repeat(MAX_SSE_LINE_BYTES)}"}\n\n`;
    for (let i = 0; i < long.length; i += 1000) s.push(Buffer.from(long.slice(i, i + 1000)));
    expect(s.usage()).toBeUndefined();
    s.push(Buffer.from(usageChunk));
    expect(s.usage()).toEqual({ input: 17, output: 42, total: 59 });
  });

  it('ignores usage outside data lines and malformed JSON', () => {
    const s = new SseUsageScanner();
    s.push(Buffer.from(': {"usage":{"prompt_tokens":1,"completion_tokens":2}}\nevent: usage\ndata: {"usage":{"prompt_tokens":1,\n\n'));
    expect(s.usage()).toBeUndefined();
  });
});

describe('usage of a JSON answer', () => {
  it('reads chat completions and Responses API usage; rejects bad counts', () => {
    expect(usageOf({ usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })).toEqual({ input: 3, output: 4, total: 7 });
    expect(usageOf({ usage: { input_tokens: 3, output_tokens: 4 } })).toEqual({ input: 3, output: 4, total: 7 });
    expect(usageOf({ type: 'response.completed', response: { usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 } } })).toEqual({
      input: 1,
      output: 2,
      total: 3,
    });
    expect(usageOf({ usage: { prompt_tokens: -1, completion_tokens: 4 } })).toBeUndefined();
    expect(usageOf({ usage: { prompt_tokens: 1.5, completion_tokens: 4 } })).toBeUndefined();
    expect(usageOf({ usage: { prompt_tokens: '3', completion_tokens: 4 } })).toBeUndefined();
    expect(usageOf({ usage: null })).toBeUndefined();
    expect(usageOf([1])).toBeUndefined();
  });

  it('parses a body split in chunks, and none over its size cap', () => {
    const body = Buffer.from(JSON.stringify({ id: 'x', usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 } }));
    const r = new JsonUsageReader();
    r.push(body.subarray(0, 10));
    r.push(body.subarray(10));
    expect(r.usage()).toEqual({ input: 5, output: 6, total: 11 });
    const small = new JsonUsageReader(20);
    small.push(body.subarray(0, 10));
    small.push(body.subarray(10));
    expect(small.usage()).toBeUndefined();
    const bad = new JsonUsageReader();
    bad.push(Buffer.from('{"usage":'));
    expect(bad.usage()).toBeUndefined();
  });

  it('picks the reader by content type; none for a compressed answer', () => {
    expect(usageReader({ 'content-type': 'text/event-stream; charset=utf-8' })).toBeInstanceOf(SseUsageScanner);
    expect(usageReader({ 'content-type': 'application/json' })).toBeInstanceOf(JsonUsageReader);
    expect(usageReader({ 'content-type': 'application/json', 'content-encoding': 'gzip' })).toBeUndefined();
  });
});
