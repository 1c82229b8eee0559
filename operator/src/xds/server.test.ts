/**
 * Protocol tests: the ADS server over real gRPC on loopback, driven by the real gateway-side
 * client (XdsClient) or by a raw grpc-js stream where the test must misbehave. "Nothing was sent"
 * is shown with a barrier: a later change that certainly produces a response, which must be the
 * next one on the stream (responses on one stream are ordered).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Metadata, credentials, status as Status, type ChannelCredentials, type StatusObject } from '@grpc/grpc-js';
import {
  BACKEND_TYPE_URL,
  GATEWAY_TYPE_URL,
  IR_VERSION,
  XdsClient,
  adsStreamMethod,
  encodeResource,
  parseDiscoveryResponse,
  type AcceptedConfig,
  type Any,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type Scheduler,
  type XdsClientOptions,
} from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotCache } from './cache.js';
import type { StreamInfo, XdsObserver } from './observer.js';
import { createXdsServer, type XdsServer, type XdsServerOptions } from './server.js';
import { makeSnapshot, type Snapshot } from './snapshot.js';

const G = GATEWAY_TYPE_URL;
const B = BACKEND_TYPE_URL;
const GROUP = 'jarvis/edge';

// ---------- fixtures ----------

function gw(id: string, refs: string[] = [], rev = 0): [string, Any] {
  return [id, encodeResource(G, { id, listeners: [], routes: [], policies: [], refs, rev })];
}
function be(id: string, rev = 0): [string, Any] {
  return [id, encodeResource(B, { id, service: { namespace: 'jarvis', name: id, port: 80 }, endpoints: [], policies: [], rev })];
}
function snap(v: { g: string; b: string }, gateways: [string, Any][], backends: [string, Any][]): Snapshot {
  return makeSnapshot({ [G]: { version: v.g, resources: gateways }, [B]: { version: v.b, resources: backends } });
}

class Queue<T> {
  readonly items: T[] = [];
  #waiters: ((t: T) => void)[] = [];
  push(t: T): void {
    const w = this.#waiters.shift();
    if (w) w(t);
    else this.items.push(t);
  }
  next(timeoutMs = 5000): Promise<T> {
    const t = this.items.shift();
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for the next event')), timeoutMs);
      this.#waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }
}

type ObsEvent =
  | { kind: 'connected' | 'disconnected'; info: StreamInfo }
  | { kind: 'pushed'; info: StreamInfo; typeUrl: string; version: string; nonce: string }
  | { kind: 'acked'; info: StreamInfo; typeUrl: string; version: string }
  | { kind: 'nacked'; info: StreamInfo; typeUrl: string; version: string; message: string }
  | { kind: 'ignored'; info: StreamInfo; typeUrl: string; reason: string };

function recorder(): { observer: XdsObserver; events: ObsEvent[]; q: Queue<ObsEvent> } {
  const events: ObsEvent[] = [];
  const q = new Queue<ObsEvent>();
  const rec = (e: ObsEvent): void => {
    events.push(e);
    q.push(e);
  };
  return {
    events,
    q,
    observer: {
      connected: (info) => rec({ kind: 'connected', info }),
      disconnected: (info) => rec({ kind: 'disconnected', info }),
      pushed: (info, typeUrl, version, nonce) => rec({ kind: 'pushed', info, typeUrl, version, nonce }),
      acked: (info, typeUrl, version) => rec({ kind: 'acked', info, typeUrl, version }),
      nacked: (info, typeUrl, version, message) => rec({ kind: 'nacked', info, typeUrl, version, message }),
      ignored: (info, typeUrl, reason) => rec({ kind: 'ignored', info, typeUrl, reason }),
    },
  };
}

async function waitFor<T>(q: Queue<T>, pred: (t: T) => boolean): Promise<T> {
  for (;;) {
    const t = await q.next();
    if (pred(t)) return t;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(cache: SnapshotCache, extra: Partial<XdsServerOptions> = {}): Promise<XdsServer> {
  const s = await createXdsServer({ listen: '127.0.0.1:0', cache, shutdownGraceMs: 1000, ...extra });
  cleanups.push(() => s.close());
  return s;
}

type ClientEvent =
  | { kind: 'accepted'; typeUrl: string; version: string; names: string[]; config: AcceptedConfig }
  | { kind: 'rejected'; typeUrl: string; version: string; error: string }
  | { kind: 'connected' }
  | { kind: 'disconnected'; code: number; retryInMs: number | undefined };

function gateway(port: number, opts: Partial<XdsClientOptions> = {}): { client: XdsClient; q: Queue<ClientEvent>; log: ClientEvent[] } {
  const q = new Queue<ClientEvent>();
  const log: ClientEvent[] = [];
  const rec = (e: ClientEvent): void => {
    log.push(e);
    q.push(e);
  };
  const client = new XdsClient({
    target: `127.0.0.1:${port}`,
    node: { id: 'gw-1', cluster: GROUP },
    subscriptions: [{ typeUrl: B }, { typeUrl: G }],
    events: {
      accepted: (typeUrl, config) =>
        rec({ kind: 'accepted', typeUrl, version: config.version, names: config.resources.map((r) => r.name), config }),
      rejected: (typeUrl, version, error) => rec({ kind: 'rejected', typeUrl, version, error }),
      connected: () => rec({ kind: 'connected' }),
      disconnected: (s, retryInMs) => rec({ kind: 'disconnected', code: s.code, retryInMs }),
    },
    ...opts,
  });
  client.start();
  cleanups.push(() => client.close());
  return { client, q, log };
}

const isAccepted = (e: ClientEvent): e is Extract<ClientEvent, { kind: 'accepted' }> => e.kind === 'accepted';

async function nextAccepted(q: Queue<ClientEvent>): Promise<Extract<ClientEvent, { kind: 'accepted' }>> {
  const e = await waitFor(q, (x) => x.kind === 'accepted' || x.kind === 'rejected');
  if (!isAccepted(e)) throw new Error(`expected an accepted response, got ${JSON.stringify(e)}`);
  return e;
}

/** A raw ADS stream for tests that must misbehave. */
function raw(port: number, creds: ChannelCredentials = credentials.createInsecure()) {
  const client = new Client(`127.0.0.1:${port}`, creds, TLS_NAME);
  const m = adsStreamMethod();
  const call = client.makeBidiStreamRequest<object, object>(m.path, m.requestSerialize, m.responseDeserialize, new Metadata());
  const q = new Queue<DiscoveryResponse>();
  call.on('data', (d: unknown) => {
    const r = parseDiscoveryResponse(d);
    if (typeof r !== 'string') q.push(r);
  });
  call.on('error', () => undefined);
  const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  const close = (): void => {
    call.cancel();
    client.close();
  };
  cleanups.push(close);
  return {
    q,
    status,
    close,
    send(req: Partial<DiscoveryRequest> & { type_url: string }): void {
      call.write({ version_info: '', resource_names: [], response_nonce: '', node: null, error_detail: null, ...req });
    },
  };
}

const node = (cluster = GROUP, id = 'raw-1') => ({ id, cluster });
/** The certificate's name, so that TLS is not asked to verify an IP as ServerName. */
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost' };
/** Lets the server (same process) run its pending pumps: they are scheduled with setImmediate. */
const serverTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const pushCount = (events: ObsEvent[]): number => events.filter((e) => e.kind === 'pushed').length;

// ---------- tests ----------

describe('ADS server (SotW)', () => {
  it('ACK flow: backends then gateways, ACKs recorded, connectedGateways reports them', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['jarvis/llm'])], [be('jarvis/llm')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const { q } = gateway(s.port);
    const first = await nextAccepted(q);
    const second = await nextAccepted(q);
    expect([first.typeUrl, first.version, first.names]).toEqual([B, 'b1', ['jarvis/llm']]);
    expect([second.typeUrl, second.version, second.names]).toEqual([G, 'g1', [GROUP]]);
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G);
    const [status] = s.connectedGateways();
    expect(status).toMatchObject({ nodeId: 'gw-1', group: GROUP, acked: { [G]: 'g1', [B]: 'b1' } });
    expect(status?.nacked).toBeUndefined();
    expect(status?.peer).toMatch(/127\.0\.0\.1/);
    const pushes = rec.events.filter((e) => e.kind === 'pushed');
    expect(pushes.map((e) => e.kind === 'pushed' && [e.typeUrl, e.version])).toEqual([
      [B, 'b1'],
      [G, 'g1'],
    ]);
    expect(rec.events[0]).toMatchObject({ kind: 'connected', info: { nodeId: 'gw-1', group: GROUP } });
  });

  it('asynchronous validation: the ACK waits for it, later responses wait their turn, and the server sees the order', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['jarvis/llm'])], [be('jarvis/llm')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const validating: { typeUrl: string; release: () => void }[] = [];
    const { q, log } = gateway(s.port, {
      validate: (typeUrl) => new Promise((resolve) => validating.push({ typeUrl, release: () => resolve({ ok: true }) })),
    });
    await expect.poll(() => validating.length).toBe(1);
    expect(validating[0]?.typeUrl).toBe(B);
    // Nothing is ACKed while the backends are being validated.
    expect(log.filter((e) => e.kind === 'accepted')).toEqual([]);
    expect(rec.events.some((e) => e.kind === 'acked')).toBe(false);
    validating[0]?.release();
    expect((await nextAccepted(q)).typeUrl).toBe(B);
    await expect.poll(() => validating.length).toBe(2);
    expect(validating[1]?.typeUrl).toBe(G);
    validating[1]?.release();
    expect((await nextAccepted(q)).typeUrl).toBe(G);
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G);
  });

  it('NACK of gateways: recorded, the version is not resent, the next snapshot is sent', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    let reject = false;
    const { q, client } = gateway(s.port, {
      validate: (typeUrl) => (typeUrl === G && reject ? { ok: false, error: 'route r1 references unknown backend x' } : { ok: true }),
    });
    await nextAccepted(q);
    await nextAccepted(q);
    reject = true;
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    const rej = await waitFor(q, (e) => e.kind === 'rejected');
    expect(rej).toMatchObject({ typeUrl: G, version: 'g2', error: 'route r1 references unknown backend x' });
    const n = await waitFor(rec.q, (e) => e.kind === 'nacked');
    expect(n).toMatchObject({ typeUrl: G, version: 'g2', message: 'route r1 references unknown backend x' });
    expect(client.accepted(G)?.version).toBe('g1');
    expect(s.connectedGateways()[0]).toMatchObject({
      acked: { [G]: 'g1' },
      nacked: { [G]: { version: 'g2', message: 'route r1 references unknown backend x' } },
    });
    // Same snapshot again (and same content under a new version): nothing is pushed.
    const before = pushCount(rec.events);
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    await serverTick();
    cache.setSnapshot(GROUP, snap({ g: 'g2-again', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    await serverTick();
    expect(pushCount(rec.events)).toBe(before);
    // A backend change as the barrier: the next response on the stream is backends.
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2' }, [gw(GROUP, [], 2)], [be('a', 2)]));
    const barrier = await nextAccepted(q);
    expect([barrier.typeUrl, barrier.version]).toEqual([B, 'b2']);
    // A new gateway snapshot is sent and accepted.
    reject = false;
    cache.setSnapshot(GROUP, snap({ g: 'g3', b: 'b2' }, [gw(GROUP, [], 3)], [be('a', 2)]));
    const next = await nextAccepted(q);
    expect([next.typeUrl, next.version]).toEqual([G, 'g3']);
    expect(rec.events.filter((e) => e.kind === 'pushed' && e.typeUrl === G).map((e) => e.kind === 'pushed' && e.version)).toEqual([
      'g1',
      'g2',
      'g3',
    ]);
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G && e.version === 'g3');
    expect(s.connectedGateways()[0]?.nacked).toBeUndefined();
  });

  it('NACK of backends: parked, gateways of that snapshot held back, a changed snapshot is sent', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['a'])], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    let rejectBackendsRev = -1;
    const { q } = gateway(s.port, {
      validate: (typeUrl, resources) =>
        typeUrl === B && resources.some((r) => (r.payload as { rev: number }).rev === rejectBackendsRev)
          ? { ok: false, error: 'bad backend' }
          : { ok: true },
    });
    await nextAccepted(q);
    await nextAccepted(q);
    rejectBackendsRev = 2;
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2' }, [gw(GROUP, ['a'], 2)], [be('a', 2)]));
    expect(await waitFor(q, (e) => e.kind === 'rejected')).toMatchObject({ typeUrl: B, version: 'b2' });
    await waitFor(rec.q, (e) => e.kind === 'nacked');
    // Same backends under a new version: still parked, and gateways held: nothing is pushed.
    const before = pushCount(rec.events);
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2x' }, [gw(GROUP, ['a'], 2)], [be('a', 2)]));
    await serverTick();
    expect(pushCount(rec.events)).toBe(before);
    expect(s.connectedGateways()[0]).toMatchObject({ acked: { [G]: 'g1', [B]: 'b1' }, nacked: { [B]: { version: 'b2' } } });
    // A real change is sent, then the held gateways.
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b3' }, [gw(GROUP, ['a'], 2)], [be('a', 3)]));
    const b3 = await nextAccepted(q);
    expect([b3.typeUrl, b3.version]).toEqual([B, 'b3']);
    const g2 = await nextAccepted(q);
    expect([g2.typeUrl, g2.version]).toEqual([G, 'g2']);
  });

  it('ignores a request with a stale nonce', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const r = raw(s.port);
    r.send({ type_url: G, node: node() });
    const res = await r.q.next();
    expect(res).toMatchObject({ type_url: G, version_info: 'g1' });
    r.send({ type_url: G, response_nonce: 'not-the-nonce', error_detail: { code: 3, message: 'stale nack' } });
    expect(await waitFor(rec.q, (e) => e.kind === 'ignored')).toMatchObject({
      typeUrl: G,
      reason: expect.stringMatching(/stale response_nonce/),
    });
    expect(rec.events.some((e) => e.kind === 'nacked')).toBe(false);
    r.send({ type_url: G, response_nonce: res.nonce, version_info: 'g1' });
    expect(await waitFor(rec.q, (e) => e.kind === 'acked')).toMatchObject({ typeUrl: G, version: 'g1' });
    // After the ACK the old nonce is still the latest; a new snapshot gets a new nonce.
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    const res2 = await r.q.next();
    expect(res2.version_info).toBe('g2');
    expect(res2.nonce).not.toBe(res.nonce);
    r.send({ type_url: G, response_nonce: res.nonce, version_info: 'g1' }); // stale ACK
    await waitFor(rec.q, (e) => e.kind === 'ignored');
    expect(s.connectedGateways()[0]?.acked[G]).toBe('g1');
  });

  it('nonces are per stream: a nonce of one stream is stale on another', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const a = raw(s.port);
    const b = raw(s.port);
    a.send({ type_url: G, node: node(GROUP, 'a') });
    b.send({ type_url: G, node: node(GROUP, 'b') });
    const ra = await a.q.next();
    const rb = await b.q.next();
    expect(ra.nonce).not.toBe(rb.nonce);
    b.send({ type_url: G, response_nonce: ra.nonce, version_info: 'g1' });
    const ign = await waitFor(rec.q, (e) => e.kind === 'ignored');
    expect(ign.info.nodeId).toBe('b');
    a.send({ type_url: G, response_nonce: ra.nonce, version_info: 'g1' });
    const ack = await waitFor(rec.q, (e) => e.kind === 'acked');
    expect(ack.info.nodeId).toBe('a');
    const byNode = Object.fromEntries(s.connectedGateways().map((g) => [g.nodeId, g.acked]));
    expect(byNode).toEqual({ a: { [G]: 'g1' }, b: {} });
  });

  it('explicit subscriptions get only the named resources; wildcard gets all', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a'), be('b'), be('c')]));
    const s = await server(cache);
    const explicit = gateway(s.port, { subscriptions: [{ typeUrl: B, names: ['a', 'c', 'missing'] }] });
    const wildcard = gateway(s.port, { subscriptions: [{ typeUrl: B, names: ['*'] }] });
    expect((await nextAccepted(explicit.q)).names).toEqual(['a', 'c']);
    expect((await nextAccepted(wildcard.q)).names).toEqual(['a', 'b', 'c']);
    // A change to a resource the explicit stream did not name is not sent to it.
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b2' }, [gw(GROUP)], [be('a'), be('b', 2), be('c')]));
    expect((await nextAccepted(wildcard.q)).version).toBe('b2');
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b3' }, [gw(GROUP)], [be('a', 3), be('b', 2), be('c')]));
    const e = await nextAccepted(explicit.q);
    expect([e.version, e.names]).toEqual(['b3', ['a', 'c']]);
  });

  it('a removed resource disappears from the next response (full state of the world)', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a'), be('b')]));
    const s = await server(cache);
    const { q } = gateway(s.port, { subscriptions: [{ typeUrl: B }] });
    expect((await nextAccepted(q)).names).toEqual(['a', 'b']);
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b2' }, [gw(GROUP)], [be('b')]));
    expect(await nextAccepted(q)).toMatchObject({ version: 'b2', names: ['b'] });
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b3' }, [gw(GROUP)], []));
    expect(await nextAccepted(q)).toMatchObject({ version: 'b3', names: [] });
  });

  it('versions are per type: a backend change does not resend gateways', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['a'])], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const { q } = gateway(s.port);
    await nextAccepted(q);
    await nextAccepted(q);
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b2' }, [gw(GROUP, ['a'])], [be('a', 2)]));
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: B, version: 'b2' });
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2' }, [gw(GROUP, ['a'], 2)], [be('a', 2)]));
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: G, version: 'g2' });
    expect(rec.events.filter((e) => e.kind === 'pushed').map((e) => e.kind === 'pushed' && e.version)).toEqual(['b1', 'g1', 'b2', 'g2']);
  });

  it('same content under a new version is not resent; the gateway is reported at the new version', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const { q } = gateway(s.port);
    await nextAccepted(q);
    await nextAccepted(q);
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G);
    cache.setSnapshot(GROUP, snap({ g: 'g9', b: 'b9' }, [gw(GROUP)], [be('a')]));
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G && e.version === 'g9');
    expect(s.connectedGateways()[0]?.acked).toEqual({ [G]: 'g9', [B]: 'b9' });
    expect(rec.events.filter((e) => e.kind === 'pushed')).toHaveLength(2);
  });

  it('make-before-break: new backends, then gateways, then removal of unreferenced backends', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['old'])], [be('old'), be('kept')]));
    const s = await server(cache);
    // The gateway's own view: it must never hold a gateway that references a missing backend.
    let backends = new Set<string>();
    const violations: string[] = [];
    const { q } = gateway(s.port, {
      validate: (typeUrl, resources) => {
        if (typeUrl === B) backends = new Set(resources.map((r) => r.name));
        else
          for (const r of resources) for (const ref of (r.payload as { refs: string[] }).refs) if (!backends.has(ref)) violations.push(ref);
        return { ok: true };
      },
    });
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: B, version: 'b1', names: ['kept', 'old'] });
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: G, version: 'g1' });
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2' }, [gw(GROUP, ['new'])], [be('new'), be('kept', 2)]));
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: B, version: 'b2+retain', names: ['kept', 'new', 'old'] });
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: G, version: 'g2' });
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: B, version: 'b2', names: ['kept', 'new'] });
    expect(violations).toEqual([]);
  });

  it('make-before-break on the first push: gateways wait for the backends ACK (client orders its subscriptions)', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['a'])], [be('a')]));
    const s = await server(cache);
    // Gateways listed first; the client subscribes backends first, the server sends them first.
    const { q } = gateway(s.port, { subscriptions: [{ typeUrl: G }, { typeUrl: B }] });
    expect((await nextAccepted(q)).typeUrl).toBe(B);
    expect((await nextAccepted(q)).typeUrl).toBe(G);
  });

  it('reads the node from the first request only', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    cache.setSnapshot('other/gw', snap({ g: 'o1', b: 'o1' }, [gw('other/gw')], []));
    const s = await server(cache);
    const r = raw(s.port);
    r.send({ type_url: G, node: node(GROUP, 'first') });
    const res = await r.q.next();
    expect(res.version_info).toBe('g1');
    r.send({ type_url: G, node: node('other/gw', 'second'), response_nonce: res.nonce, version_info: 'g1' });
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    expect((await r.q.next()).version_info).toBe('g2');
    expect(s.connectedGateways().map((g) => [g.nodeId, g.group])).toEqual([['first', GROUP]]);
  });

  it('refuses a stream whose first request has no node or an unusable group', async () => {
    const s = await server(new SnapshotCache());
    const a = raw(s.port);
    a.send({ type_url: G });
    expect(await a.status).toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringMatching(/must carry node/) });
    const b = raw(s.port);
    b.send({ type_url: G, node: node('no-slash') });
    expect(await b.status).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/not <namespace>\/<gateway name>/),
    });
  });

  it('a resumed stream with current versions gets no duplicate push', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const first = gateway(s.port);
    await nextAccepted(first.q);
    await nextAccepted(first.q);
    const versions = first.client.versions();
    await first.client.close();
    await waitFor(rec.q, (e) => e.kind === 'disconnected');
    const second = gateway(s.port, { initialVersions: versions });
    const acks = [await waitFor(rec.q, (e) => e.kind === 'acked'), await waitFor(rec.q, (e) => e.kind === 'acked')];
    expect(acks.map((e) => e.kind === 'acked' && [e.info.streamId, e.typeUrl, e.version])).toEqual([
      ['s2', B, 'b1'],
      ['s2', G, 'g1'],
    ]);
    // Barrier: the first response on the resumed stream is the next snapshot, not a resend.
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b2' }, [gw(GROUP)], [be('a', 2)]));
    expect(await nextAccepted(second.q)).toMatchObject({ typeUrl: B, version: 'b2' });
    expect(rec.events.filter((e) => e.kind === 'pushed' && e.info.streamId === 's2').length).toBe(1);
  });

  it('a gateway resuming with an older version keeps make-before-break across the reconnect', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP, ['old'])], [be('old')]));
    const s = await server(cache);
    const first = gateway(s.port);
    await nextAccepted(first.q);
    await nextAccepted(first.q);
    const versions = first.client.versions();
    await first.client.close();
    // While it is away, its gateway moves from backend "old" to backend "new".
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b2' }, [gw(GROUP, ['new'])], [be('new')]));
    const second = gateway(s.port, { initialVersions: versions });
    expect(await nextAccepted(second.q)).toMatchObject({ typeUrl: B, version: 'b2+retain', names: ['new', 'old'] });
    expect(await nextAccepted(second.q)).toMatchObject({ typeUrl: G, version: 'g2' });
    expect(await nextAccepted(second.q)).toMatchObject({ typeUrl: B, version: 'b2', names: ['new'] });
  });

  it('the client reconnects with backoff through its scheduler and resumes without a resend', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const first = await createXdsServer({ listen: '127.0.0.1:0', cache, shutdownGraceMs: 1000 });
    const port = first.port;
    const pending: { delay: number; task: () => void }[] = [];
    const scheduler: Scheduler = {
      schedule: (delay, task) => {
        pending.push({ delay, task });
        return () => undefined;
      },
    };
    const { q, client } = gateway(port, { scheduler, random: () => 0.5, backoff: { initialMs: 100, maxMs: 400 } });
    await nextAccepted(q);
    await nextAccepted(q);
    await first.close();
    expect(await waitFor(q, (e) => e.kind === 'disconnected')).toMatchObject({ code: Status.UNAVAILABLE, retryInMs: 100 });
    expect(pending.map((p) => p.delay)).toEqual([100]);
    // No server: the retry fails and the next delay doubles.
    pending.shift()?.task();
    expect(await waitFor(q, (e) => e.kind === 'disconnected')).toMatchObject({ retryInMs: 200 });

    const rec = recorder();
    const second = await server(cache, { listen: `127.0.0.1:${port}`, observer: rec.observer });
    expect(second.port).toBe(port);
    pending.shift()?.task();
    await waitFor(rec.q, (e) => e.kind === 'acked' && e.typeUrl === G);
    expect(rec.events.filter((e) => e.kind === 'pushed')).toHaveLength(0);
    cache.setSnapshot(GROUP, snap({ g: 'g2', b: 'b1' }, [gw(GROUP, [], 2)], [be('a')]));
    expect(await nextAccepted(q)).toMatchObject({ typeUrl: G, version: 'g2' });
    expect(client.versions()).toEqual({ [B]: 'b1', [G]: 'g2' });
  });

  it('garbage resources are NACKed with a clear message', async () => {
    const cache = new SnapshotCache();
    const rec = recorder();
    const s = await server(cache, { observer: rec.observer });
    const badJson = encodeResource(G, { id: GROUP });
    // Corrupt the last byte of the JSON and fix nothing else: the content hash no longer matches.
    const corrupted: Any = { type_url: G, value: Uint8Array.from(badJson.value).fill(0x7b, badJson.value.length - 1) };
    const bogus: Snapshot = {
      types: new Map([
        [G, { version: 'bad1', resources: new Map([[GROUP, { name: GROUP, resource: corrupted, hash: 'x1' }]]) }],
        [
          B,
          {
            version: 'bad2',
            resources: new Map([
              [
                'a',
                { name: 'a', resource: { type_url: 'type.googleapis.com/google.protobuf.Empty', value: new Uint8Array() }, hash: 'x2' },
              ],
            ]),
          },
        ],
      ]),
    };
    cache.setSnapshot(GROUP, bogus);
    const { q } = gateway(s.port, { subscriptions: [{ typeUrl: B }] });
    const rej = await waitFor(q, (e) => e.kind === 'rejected');
    expect(rej).toMatchObject({
      typeUrl: B,
      version: 'bad2',
      error: expect.stringMatching(/unknown resource type URL "type.googleapis.com\/google.protobuf.Empty"/),
    });
    const n = await waitFor(rec.q, (e) => e.kind === 'nacked');
    expect(n).toMatchObject({ typeUrl: B, version: 'bad2' });
    const g = gateway(s.port, { subscriptions: [{ typeUrl: G }], node: { id: 'gw-2', cluster: GROUP } });
    expect(await waitFor(g.q, (e) => e.kind === 'rejected')).toMatchObject({ error: expect.stringMatching(/content hash mismatch/) });
    // Bad JSON with a matching hash (message bytes written by hand: name, ir_version, hash, json).
    const json = Buffer.from('{"id":"jarvis/edge"');
    const hash = Buffer.from(`sha256:${createHash('sha256').update(json).digest('hex')}`);
    const name = Buffer.from(GROUP);
    const value = Buffer.concat([
      Buffer.from([0x0a, name.length]),
      name,
      Buffer.from([0x10, IR_VERSION]),
      Buffer.from([0x1a, hash.length]),
      hash,
      Buffer.from([0x22, json.length]),
      json,
    ]);
    cache.setSnapshot(GROUP, makeSnapshot({ [G]: { version: 'bad3', resources: [[GROUP, { type_url: G, value }]] } }));
    expect(await waitFor(g.q, (e) => e.kind === 'rejected')).toMatchObject({
      version: 'bad3',
      error: expect.stringMatching(/GatewayResource "jarvis\/edge": ir_json is not valid JSON/),
    });
    await waitFor(rec.q, (e) => e.kind === 'nacked' && e.version === 'bad3');
    expect(s.connectedGateways().find((x) => x.nodeId === 'gw-2')?.nacked?.[G]?.message).toMatch(/not valid JSON/);
  });

  it('many groups each get their own snapshot', async () => {
    const cache = new SnapshotCache();
    const groups = Array.from({ length: 6 }, (_, i) => `team-${i}/gw`);
    for (const g of groups) cache.setSnapshot(g, snap({ g: `${g}@1`, b: 'b1' }, [gw(g)], [be(`${g}-backend`)]));
    const s = await server(cache);
    const clients = groups.map((g) => gateway(s.port, { node: { id: `${g}-pod`, cluster: g } }));
    for (const [i, c] of clients.entries()) {
      expect(await nextAccepted(c.q)).toMatchObject({ typeUrl: B, names: [`${groups[i]}-backend`] });
      expect(await nextAccepted(c.q)).toMatchObject({ typeUrl: G, version: `${groups[i]}@1`, names: [groups[i]] });
    }
    cache.setSnapshot('team-3/gw', snap({ g: 'team-3/gw@2', b: 'b1' }, [gw('team-3/gw', [], 2)], [be('team-3/gw-backend')]));
    expect(await nextAccepted(clients[3]!.q)).toMatchObject({ typeUrl: G, version: 'team-3/gw@2' });
    expect(
      s
        .connectedGateways()
        .map((g) => g.group)
        .sort(),
    ).toEqual(groups);
    expect(clients.filter((_, i) => i !== 3).every((c) => c.q.items.filter(isAccepted).length === 0)).toBe(true);
  });

  it('close() ends the streams with UNAVAILABLE and stops the server', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));
    const s = await createXdsServer({ listen: '127.0.0.1:0', cache, shutdownGraceMs: 1000 });
    const r = raw(s.port);
    r.send({ type_url: G, node: node() });
    await r.q.next();
    await s.close();
    expect((await r.status).code).toBe(Status.UNAVAILABLE);
    expect(s.connectedGateways()).toEqual([]);
  });
});

describe('ADS server over TLS', () => {
  const run = promisify(execFile);

  async function certs(): Promise<{ dir: string; ca: string; cert: string; key: string; clientCert: string; clientKey: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'xds-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const p = (f: string): string => join(dir, f);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
    ]);
    await writeFile(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    for (const [name, cn] of [
      ['server', 'localhost'],
      ['client', 'gw-1'],
    ] as const) {
      await run('openssl', [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        p(`${name}.key`),
        '-out',
        p(`${name}.csr`),
        '-subj',
        `/CN=${cn}`,
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        p(`${name}.csr`),
        '-CA',
        p('ca.crt'),
        '-CAkey',
        p('ca.key'),
        '-CAcreateserial',
        '-out',
        p(`${name}.crt`),
        '-days',
        '1',
        '-extfile',
        p('ext.cnf'),
      ]);
    }
    return { dir, ca: p('ca.crt'), cert: p('server.crt'), key: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') };
  }

  it('serves TLS clients and refuses plaintext; with a client CA, requires a client certificate', async () => {
    const c = await certs();
    const ca = await readFile(c.ca);
    const cache = new SnapshotCache();
    cache.setSnapshot(GROUP, snap({ g: 'g1', b: 'b1' }, [gw(GROUP)], [be('a')]));

    const tls = await server(cache, { tls: { certFile: c.cert, keyFile: c.key } });
    const plain = raw(tls.port);
    plain.send({ type_url: G, node: node() });
    expect((await plain.status).code).toBe(Status.UNAVAILABLE);
    const ok = gateway(tls.port, { credentials: credentials.createSsl(ca), channelOptions: TLS_NAME });
    expect(await nextAccepted(ok.q)).toMatchObject({ typeUrl: B, version: 'b1' });

    const mtls = await server(cache, { tls: { certFile: c.cert, keyFile: c.key, caFile: c.ca } });
    const noCert = raw(mtls.port, credentials.createSsl(ca));
    noCert.send({ type_url: G, node: node() });
    expect((await noCert.status).code).toBe(Status.UNAVAILABLE);
    const withCert = gateway(mtls.port, {
      credentials: credentials.createSsl(ca, await readFile(c.clientKey), await readFile(c.clientCert)),
      channelOptions: TLS_NAME,
    });
    expect(await nextAccepted(withCert.q)).toMatchObject({ typeUrl: B, version: 'b1' });
  });
});
