import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import type { KubeClient, KubeResponse } from '../kube/client.js';
import { silentLogger } from '../observe/log.js';
import { Informer } from './informer.js';

interface WatchCall {
  readonly query: Record<string, string | number | boolean>;
  readonly emit: (type: string, object: unknown) => void;
  readonly done: (err: unknown) => void;
  stopped: boolean;
}

/** A scripted apiserver: lists return `items`, watches are recorded for the test to drive. */
function fakeClient() {
  const state = { items: [] as unknown[], rv: '10', listStatus: 200, lists: 0, watches: [] as WatchCall[], paths: [] as string[] };
  const client: KubeClient = {
    counters: new Map(),
    async request(_method, path): Promise<KubeResponse> {
      state.lists++;
      state.paths.push(path);
      return { status: state.listStatus, body: { items: state.items, metadata: { resourceVersion: state.rv } } };
    },
    async watch(_path, query, onEvent, done) {
      const call: WatchCall = { query, emit: onEvent, done, stopped: false };
      state.watches.push(call);
      return () => void (call.stopped = true);
    },
  };
  return { client, state };
}

const obj = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{}] } });
const flush = () => new Promise((r) => setImmediate(r));

async function started(resyncMs = 60_000) {
  const time = new ManualTime();
  const { client, state } = fakeClient();
  let changes = 0;
  const informer = new Informer({
    name: 'things',
    path: '/api/v1/things',
    client,
    clock: time,
    scheduler: time,
    log: silentLogger,
    onChange: () => changes++,
    resyncMs,
  });
  state.items = [obj('a', '1'), obj('b', '2')];
  informer.start();
  await flush();
  return { time, state, informer, changes: () => changes };
}

describe('Informer', () => {
  it('lists, then watches from the list resourceVersion, applying events', async () => {
    const { state, informer, changes } = await started();
    expect(informer.synced).toBe(true);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(informer.list()[0]?.metadata['managedFields']).toBeUndefined();
    expect(state.watches[0]?.query).toMatchObject({ resourceVersion: '10', allowWatchBookmarks: true });
    state.watches[0]?.emit('ADDED', obj('c', '11'));
    state.watches[0]?.emit('DELETED', obj('a', '12'));
    state.watches[0]?.emit('BOOKMARK', { metadata: { name: '', resourceVersion: '13' } });
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['b', 'c']);
    expect(changes()).toBe(3);
  });

  it('restarts a failed watch from the last resourceVersion with growing, bounded backoff', async () => {
    const { time, state, informer } = await started(3_600_000);
    state.watches[0]?.emit('MODIFIED', obj('a', '15'));
    state.watches[0]?.done(new Error('connection reset'));
    expect(state.watches).toHaveLength(1);
    time.advance(400); // first backoff is 250 ms ± 20 %
    await flush();
    expect(state.watches).toHaveLength(2);
    expect(state.watches[1]?.query.resourceVersion).toBe('15');
    for (let i = 0; i < 12; i++) {
      state.watches.at(-1)?.done(new Error('still down'));
      time.advance(40_000); // never more than the 30 s cap (+20 % jitter)
      await flush();
    }
    expect(state.watches).toHaveLength(14);
    expect(informer.restarts).toBe(13);
    expect(state.lists).toBe(1);
  });

  it('relists on 410 Gone instead of retrying the expired resourceVersion', async () => {
    const { state, informer } = await started();
    state.items = [obj('b', '20')];
    state.rv = '30';
    state.watches[0]?.emit('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    state.watches[0]?.done(null);
    await flush();
    expect(state.lists).toBe(2);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['b']);
    expect(state.watches.at(-1)?.query.resourceVersion).toBe('30');
  });

  it('resyncs by relisting periodically, repairing a watch that went silent', async () => {
    const { time, state, informer } = await started(60_000);
    state.items = [obj('a', '1'), obj('b', '2'), obj('z', '40')]; // 'z' was missed by a silent watch
    time.advance(60_000);
    await flush();
    expect(state.lists).toBe(2);
    expect(state.watches[0]?.stopped).toBe(true);
    expect(informer.list().map((o) => o.metadata.name)).toContain('z');
  });

  it('retries a failed list with backoff and does not report synced before it succeeds', async () => {
    const time = new ManualTime();
    const { client, state } = fakeClient();
    state.listStatus = 503;
    const informer = new Informer({ name: 't', path: '/x', client, clock: time, scheduler: time, log: silentLogger, onChange: () => {} });
    informer.start();
    await flush();
    expect(informer.synced).toBe(false);
    state.listStatus = 200;
    time.advance(400);
    await flush();
    expect(informer.synced).toBe(true);
    informer.stop();
  });

  it('asks for labelled objects only, in the list and the watch', async () => {
    const time = new ManualTime();
    const { client, state } = fakeClient();
    const informer = new Informer({
      name: 'secrets',
      path: '/api/v1/secrets',
      labelSelector: 'stability.jarvis.io/identity',
      client,
      clock: time,
      scheduler: time,
      log: silentLogger,
      onChange: () => undefined,
    });
    informer.start();
    await flush();
    expect(state.paths).toEqual(['/api/v1/secrets?labelSelector=stability.jarvis.io%2Fidentity']);
    expect(state.watches[0]?.query).toMatchObject({ labelSelector: 'stability.jarvis.io/identity' });
    informer.stop();
  });

  it('when optional and forbidden, counts as synced and empty, and keeps trying', async () => {
    const time = new ManualTime();
    const { client, state } = fakeClient();
    state.listStatus = 403;
    let changes = 0;
    const informer = new Informer({
      name: 'secrets',
      path: '/api/v1/secrets',
      optional: true,
      client,
      clock: time,
      scheduler: time,
      log: silentLogger,
      onChange: () => changes++,
    });
    informer.start();
    await flush();
    expect(informer.synced).toBe(true);
    expect(informer.list()).toEqual([]);
    expect(changes).toBe(1);
    state.listStatus = 200;
    state.items = [obj('s', '1')];
    time.advance(60_000);
    await flush();
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['s']);
    expect(state.lists).toBeGreaterThan(1);
    informer.stop();
  });
});
