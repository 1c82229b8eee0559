import { afterEach, describe, expect, it } from 'vitest';

import { ManualTime } from '@jarvis/api';

import { type RunningMock, startMock, startMocks } from './server.js';
import { parseSpec } from './spec.js';

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.close()));
});

async function mock(...args: Parameters<typeof startMock>): Promise<RunningMock> {
  const m = await startMock(...args);
  running.push(m);
  return m;
}

/** A fixed sequence for `random`, repeated. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

const chat = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const hello = { model: 'gpt-4', messages: [{ role: 'user', content: 'Hello there' }] };

describe('llm mock', () => {
  it('echoes the model and returns usage tokens', async () => {
    const m = await mock({ name: 'gpt4', kind: 'llm' }, { clock: new ManualTime(1_700_000_000_000) });
    const res = await fetch(`${m.url}/v1/chat/completions`, chat({ ...hello, model: 'claude-haiku' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-mock-name')).toBe('gpt4');
    const body = (await res.json()) as {
      model: string;
      created: number;
      choices: { message: { content: string }; finish_reason: string }[];
      usage: Record<string, number>;
    };
    expect(body.model).toBe('claude-haiku');
    expect(body.created).toBe(1_700_000_000);
    expect(body.choices[0]?.message.content).toContain('Hello there');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(body.usage['prompt_tokens']).toBeGreaterThan(0);
    expect(body.usage['total_tokens']).toBe((body.usage['prompt_tokens'] ?? 0) + (body.usage['completion_tokens'] ?? 0));
  });

  it('streams SSE chunks that end with data: [DONE]', async () => {
    const m = await mock({ name: 'gpt4', kind: 'llm' });
    const res = await fetch(
      `${m.url}/v1/chat/completions`,
      chat({ ...hello, stream: true, stream_options: { include_usage: true }, max_tokens: 3 }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    const events = text.split('\n\n').filter((e) => e !== '');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e.slice(6)) as {
          object: string;
          model: string;
          choices: { delta: { content?: string }; finish_reason: string | null }[];
          usage?: { completion_tokens: number };
        },
    );
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'gpt-4')).toBe(true);
    const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    expect(content.split(' ')).toHaveLength(3); // max_tokens: three word-tokens
    expect(chunks.flatMap((c) => c.choices).at(-1)?.finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
  });

  it('paces stream chunks with the injected timers', async () => {
    const time = new ManualTime();
    const m = await mock({ name: 'slow', kind: 'llm', streamChunkDelayMs: 50 }, { timers: time });
    const res = await fetch(`${m.url}/v1/chat/completions`, chat({ ...hello, stream: true }));
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"role":"assistant"');
    expect(time.pending()).toBe(1);
    let rest = '';
    for (;;) {
      time.advance(50);
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('rejects invalid bodies with an OpenAI-style 400', async () => {
    const m = await mock({ name: 'gpt4', kind: 'llm' });
    const bad = await fetch(`${m.url}/v1/chat/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const noModel = await fetch(`${m.url}/v1/chat/completions`, chat({ messages: [{ role: 'user', content: 'x' }] }));
    expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe('model');
    const badRole = await fetch(`${m.url}/v1/chat/completions`, chat({ model: 'x', messages: [{ role: 'robot', content: 'x' }] }));
    expect(((await badRole.json()) as { error: { param: string } }).error.param).toBe('messages[0].role');
    expect((await fetch(`${m.url}/v1/chat/completions`)).status).toBe(405);
    expect((await fetch(`${m.url}/other`, chat(hello))).status).toBe(404);
  });
});

describe('behaviour', () => {
  it('injects errors at the configured rate with the configured statuses', async () => {
    // random(): 0.1 < 0.5 → error, status index floor(0.9 * 2) = 1 → 503; 0.7 → no error.
    const m = await mock(
      { name: 'flaky', kind: 'trivial', errorRate: 0.5, errorStatuses: [500, 503] },
      { random: sequence([0.1, 0.9, 0.7]) },
    );
    const first = await fetch(m.url);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(((await first.json()) as { error: { type: string } }).error.type).toBe('server_error');
    expect((await fetch(m.url)).status).toBe(200);
    expect(m.stats()).toMatchObject({ requests: 2, injectedErrors: 1, byStatus: { '200': 1, '503': 1 } });
  });

  it('answers 429 with retry-after when that is the injected status', async () => {
    const m = await mock({ name: 'busy', kind: 'llm', errorRate: 1, errorStatuses: [429] });
    const res = await fetch(`${m.url}/v1/chat/completions`, chat(hello));
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('rate_limit_exceeded');
  });

  it('delays responses by latency plus jitter on the injected timers', async () => {
    const time = new ManualTime();
    const m = await mock({ name: 'slow', kind: 'trivial', latencyMs: 100, jitterMs: 50 }, { timers: time, random: sequence([0.5]) });
    let answered = false;
    const pending = fetch(m.url).then((r) => {
      answered = true;
      return r.status;
    });
    await expect.poll(() => time.pending()).toBe(1);
    time.advance(124);
    // The delay is one timer on the injected clock: not fired a millisecond early.
    expect(time.pending()).toBe(1);
    expect(answered).toBe(false);
    time.advance(1); // 100 + 0.5 * 50
    expect(await pending).toBe(200);
  });

  it('changes at run time through POST /__mock/config and reports stats', async () => {
    const m = await mock({ name: 'up', kind: 'trivial' });
    expect((await fetch(m.url)).status).toBe(200);
    const cfg = await fetch(`${m.url}/__mock/config`, {
      method: 'POST',
      body: JSON.stringify({ errorRate: 1, errorStatuses: [500], healthy: false }),
    });
    expect(cfg.status).toBe(200);
    expect(await cfg.json()).toMatchObject({ errorRate: 1, errorStatuses: [500], healthy: false });
    expect((await fetch(m.url)).status).toBe(500);
    expect((await fetch(`${m.url}/healthz`)).status).toBe(503);
    const stats = (await (await fetch(`${m.url}/__mock/stats`)).json()) as { requests: number; byStatus: Record<string, number> };
    expect(stats).toMatchObject({ requests: 2, byStatus: { '200': 1, '500': 1 } });
    const bad = await fetch(`${m.url}/__mock/config`, { method: 'POST', body: JSON.stringify({ errorRate: 2 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('errorRate');
    expect(await (await fetch(`${m.url}/__mock/reset`, { method: 'POST' })).json()).toMatchObject({ errorRate: 0, healthy: true });
    expect((await fetch(m.url)).status).toBe(200);
  });
});

describe('capacity, deadlines and idempotency', () => {
  it('serves at most `concurrency` requests at once; the rest wait their turn in order', async () => {
    const time = new ManualTime();
    const m = await mock({ name: 'cap', kind: 'chat', latencyMs: 100, concurrency: 2 }, { timers: time });
    const done: number[] = [];
    const all = [0, 1, 2, 3].map((i) => fetch(`${m.url}/x${i}`).then(async (r) => (await r.text(), done.push(i), r.status)));
    // All four in: two waiting in the mock's queue (each was admitted or queued as its body ended).
    await expect.poll(() => m.stats().waiting).toBe(2);
    expect(time.pending()).toBe(2); // two served, two waiting in the mock
    time.advance(100);
    await expect.poll(() => done.length >= 2 && time.pending() >= 2).toBe(true);
    expect(done.sort()).toEqual([0, 1]);
    time.advance(100);
    expect(await Promise.all(all)).toEqual([200, 200, 200, 200]);
    expect(m.stats().maxConcurrent).toBe(2);
  });

  it('counts requests that arrive after the deadline the gateway gave them', async () => {
    const time = new ManualTime(1_700_000_000_000);
    const m = await mock({ name: 'late', kind: 'chat' }, { clock: time });
    await fetch(m.url, { headers: { 'x-jarvis-deadline': String(time.now() - 1) } });
    await fetch(m.url, { headers: { 'x-jarvis-deadline': String(time.now() + 1000) } });
    await fetch(m.url);
    expect(m.stats()).toMatchObject({ requests: 3, withDeadline: 2, lateArrivals: 1 });
  });

  it('records the feature toggles the gateway told it (x-jarvis-features)', async () => {
    const m = await mock({ name: 'features', kind: 'trivial' });
    await fetch(m.url, { headers: { 'x-jarvis-features': 'rerank=off, search=on' } });
    await fetch(m.url, { headers: { 'x-jarvis-features': 'rerank=off, search=on' } });
    await fetch(m.url);
    expect(m.stats()).toMatchObject({ features: { 'rerank=off, search=on': 2, '(none)': 1 }, lastFeatures: null });
    await fetch(m.url, { headers: { 'x-jarvis-features': 'rerank=on, search=on' } });
    expect(m.stats().lastFeatures).toBe('rerank=on, search=on');
    m.resetStats();
    expect(m.stats()).toMatchObject({ features: {}, lastFeatures: null });
  });

  it('answers a repeated Idempotency-Key from its first success, and counts jobs served twice without it', async () => {
    const m = await mock({ name: 'idem', kind: 'chat', idempotency: true });
    const call = (key: string, job: string) => fetch(`${m.url}/a`, { headers: { 'idempotency-key': key, 'x-jarvis-job-id': job } });
    const first = await call('k1', 'j1');
    const again = await call('k1', 'j1');
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(await again.text()).toBe(await first.text());
    expect(m.stats()).toMatchObject({ idempotentReplays: 1, jobsCompleted: 1, jobsCompletedTwice: 0 });
    // A second key for the same job is served again: the job completed twice at the upstream.
    await call('k2', 'j1');
    expect(m.stats()).toMatchObject({ jobsCompleted: 1, jobsCompletedTwice: 1 });
    expect(await (await fetch(`${m.url}/__mock/jobs`)).json()).toEqual({ completed: { j1: 2 } });
  });
});

describe('search and chat mocks', () => {
  it('retrieves top_k results and echoes x-jarvis-features', async () => {
    const m = await mock({ name: 'vector-search', kind: 'search', flavor: 'vector' });
    const res = await fetch(`${m.url}/api/v1/retrieve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-jarvis-features': 'rerank=off' },
      body: JSON.stringify({ query: 'refund policy', top_k: 3 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-features')).toBe('rerank=off');
    const body = (await res.json()) as { results: { score: number; source: string }[]; features: string; flavor: string };
    expect(body.results).toHaveLength(3);
    expect(body.features).toBe('rerank=off');
    expect(body.flavor).toBe('vector');
    expect(body.results[0]!.score).toBeGreaterThan(body.results[2]!.score);
    const bad = await fetch(`${m.url}/api/v1/retrieve`, chat({ query: '', top_k: 3 }));
    expect(bad.status).toBe(400);
  });

  it('echoes identity headers from the chat API', async () => {
    const m = await mock({ name: 'chat-api', kind: 'chat' });
    const res = await fetch(`${m.url}/api/v1/chat`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', 'x-user-id': 'eve' },
      body: JSON.stringify({ message: 'hi' }),
    });
    expect(await res.json()).toMatchObject({
      service: 'chat-api',
      path: '/api/v1/chat',
      reply: 'echo: hi',
      tenant: 'acme',
      user: 'eve',
      features: null,
    });
  });

  it('starts several from one spec and names their ports', async () => {
    const mocks = await startMocks('{"mocks":[{"name":"a","kind":"trivial"},{"name":"b","kind":"search","flavor":"keyword"}]}');
    running.push(mocks);
    expect(mocks.mocks.map((m) => m.name)).toEqual(['a', 'b']);
    expect(mocks.get('b').port).toBeGreaterThan(0);
    expect((await fetch(`${mocks.get('a').url}/healthz`)).status).toBe(200);
  });
});

describe('spec', () => {
  it('rejects mistakes with the field named', () => {
    expect(() => parseSpec('[]')).toThrow(/non-empty list/);
    expect(() => parseSpec('[{"name":"a","kind":"nope"}]')).toThrow(/mocks\[0\]\.kind/);
    expect(() => parseSpec('[{"name":"a","kind":"llm","flavor":"vector"}]')).toThrow(/flavor: applies only to kind search/);
    expect(() => parseSpec('[{"name":"a","kind":"llm","latencyMS":5}]')).toThrow(/latencyMS: unknown field/);
    expect(() => parseSpec('[{"name":"a","kind":"llm"},{"name":"a","kind":"chat"}]')).toThrow(/duplicate/);
    expect(parseSpec({ mocks: [{ name: 'a', kind: 'llm', errorRate: 0.1 }] }).mocks[0]).toEqual({ name: 'a', kind: 'llm', errorRate: 0.1 });
  });
});
