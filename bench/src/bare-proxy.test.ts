import { afterEach, describe, expect, it } from 'vitest';

import { startMocks, type RunningMocks } from '@jarvis/mocks';

import { type BareProxy, startBareProxy } from './bare-proxy.js';

const open: (RunningMocks | BareProxy)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function behind(def: Record<string, unknown>): Promise<{ proxy: BareProxy; mocks: RunningMocks }> {
  const mocks = await startMocks({ mocks: [{ name: 'up', ...def }] } as Parameters<typeof startMocks>[0]);
  const proxy = await startBareProxy({ upstream: mocks.get('up').url });
  open.push(proxy, mocks);
  return { proxy, mocks };
}

describe('bare proxy', () => {
  it('forwards method, path, headers and body, and the answer with its headers', async () => {
    const { proxy } = await behind({ kind: 'chat' });
    const res = await fetch(`${proxy.url}/api/v1/chat?x=1`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', connection: 'keep-alive' },
      body: JSON.stringify({ message: 'hi' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-mock-name')).toBe('up');
    expect(await res.json()).toMatchObject({ method: 'POST', path: '/api/v1/chat', reply: 'echo: hi', tenant: 'acme' });
  });

  it('passes upstream errors through', async () => {
    const { proxy } = await behind({ kind: 'trivial', errorRate: 1, errorStatuses: [503] });
    const res = await fetch(`${proxy.url}/`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('streams SSE through unbuffered', async () => {
    const { proxy } = await behind({ kind: 'llm', streamChunkDelayMs: 40 });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'one two three four five' }] }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const arrivals: string[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      arrivals.push(new TextDecoder().decode(value));
    }
    // The chunks arrive one by one, 40 ms apart, not as one buffered body.
    expect(arrivals.length).toBeGreaterThan(5);
    expect(arrivals.join('').endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('answers 502 when the upstream is down', async () => {
    const proxy = await startBareProxy({ upstream: 'http://127.0.0.1:9' });
    open.push(proxy);
    expect((await fetch(`${proxy.url}/`)).status).toBe(502);
  });
});
