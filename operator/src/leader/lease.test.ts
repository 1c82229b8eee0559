import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import type { KubeClient, KubeResponse } from '../kube/client.js';
import { silentLogger } from '../observe/log.js';
import { LeaderElector } from './lease.js';

/** One Lease with resourceVersion semantics, shared by every elector; `down` makes calls fail. */
function leaseServer() {
  const server = {
    lease: undefined as undefined | { metadata: Record<string, unknown>; spec: Record<string, unknown> },
    rv: 0,
    down: new Set<string>(),
  };
  const clientFor = (id: string): KubeClient => ({
    counters: new Map(),
    async watch() {
      return () => {};
    },
    async request(method, _path, body): Promise<KubeResponse> {
      if (server.down.has(id)) throw new Error('connection refused');
      const copy = () => JSON.parse(JSON.stringify(server.lease)) as unknown;
      if (method === 'GET') return server.lease ? { status: 200, body: copy() } : { status: 404, body: {} };
      const incoming = body as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
      if (method === 'POST') {
        if (server.lease) return { status: 409, body: {} };
        server.lease = { ...incoming, metadata: { ...incoming.metadata, resourceVersion: String(++server.rv) } };
        return { status: 201, body: copy() };
      }
      if (incoming.metadata.resourceVersion !== server.lease?.metadata.resourceVersion) return { status: 409, body: {} };
      server.lease = { ...incoming, metadata: { ...incoming.metadata, resourceVersion: String(++server.rv) } };
      return { status: 200, body: copy() };
    },
  });
  return { server, clientFor };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function elector(time: ManualTime, client: KubeClient, identity: string, events: string[]) {
  return new LeaderElector({
    client,
    namespace: 'jarvis-system',
    name: 'jarvis-operator',
    identity,
    clock: time,
    scheduler: time,
    log: silentLogger,
    onStartedLeading: () => events.push(`${identity}+`),
    onStoppedLeading: () => events.push(`${identity}-`),
  });
}

/** Replicas a and b on one lease; a started first. */
async function twoReplicas() {
  const time = new ManualTime();
  const { server, clientFor } = leaseServer();
  const events: string[] = [];
  const a = elector(time, clientFor('a'), 'a', events);
  const b = elector(time, clientFor('b'), 'b', events);
  a.start();
  await flush();
  b.start();
  return { time, server, events, a, b };
}

async function run(time: ManualTime, ms: number, step = 500) {
  for (let t = 0; t < ms; t += step) {
    time.advance(step);
    await flush();
  }
}

describe('LeaderElector', () => {
  it('elects exactly one of two replicas and keeps it while it renews', async () => {
    const { time, server, events, a, b } = await twoReplicas();
    await run(time, 60_000);
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    expect(events).toEqual(['a+']);
    expect(server.lease?.spec.holderIdentity).toBe('a');
  });

  it('hands over within the lease duration when the leader dies, and the old leader steps down', async () => {
    const { time, server, events, a, b } = await twoReplicas();
    await run(time, 5_000);
    server.down.add('a'); // a loses the apiserver (or dies)
    const diedAt = time.now();
    while (!b.isLeader && time.now() - diedAt < 60_000) await run(time, 500);
    const handover = time.now() - diedAt;
    expect(handover).toBeLessThanOrEqual(15_000 + 2_000 + 500); // lease duration + one retry period
    expect(a.isLeader).toBe(false); // stepped down after its renew deadline (10 s)
    expect(events).toEqual(['a+', 'a-', 'b+']);
    expect(server.lease?.spec.leaseTransitions).toBe(1);
  });

  it('releases the lease on stop so the other replica takes over at its next retry', async () => {
    const { time, a, b } = await twoReplicas();
    await run(time, 4_000);
    await a.stop();
    const stoppedAt = time.now();
    while (!b.isLeader) await run(time, 500);
    expect(time.now() - stoppedAt).toBeLessThanOrEqual(2_500);
  });
});

describe('LeaderElector renewals', () => {
  it('renews with one request per retry period, and a conflicting write makes it look again', async () => {
    const time = new ManualTime();
    const { server, clientFor } = leaseServer();
    let requests = 0;
    const base = clientFor('a');
    const counting: KubeClient = { ...base, request: (...args) => (requests++, base.request(...args)) };
    const a = elector(time, counting, 'a', []);
    a.start();
    await run(time, 4_000);
    requests = 0;
    await run(time, 20_000);
    expect(requests).toBe(10); // one PUT per 2 s retry period, no GET
    // Someone else writes the lease (e.g. an admin edits it): the cached renewal conflicts.
    server.lease = { ...server.lease!, metadata: { ...server.lease!.metadata, resourceVersion: String(++server.rv) } };
    await run(time, 4_000);
    expect(a.isLeader).toBe(true);
    expect(server.lease?.spec.holderIdentity).toBe('a');
  });
});
