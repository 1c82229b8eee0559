/**
 * One ADS stream (State of the World): the protocol rules, independent of gRPC plumbing.
 *
 * Requests. The node is read from the stream's first request only. Per type URL, the latest
 * response has a nonce unique to this stream; a request whose response_nonce is not that nonce is
 * stale and ignored. A request with the latest nonce answers the latest response: with
 * error_detail it is a NACK, without it an ACK; either way it may also change the subscribed names
 * and it opens the type for the next response. Empty names or `*` subscribe to every resource.
 *
 * Responses. A type is sent only when (1) a request for it is open, (2) the content for the
 * stream's subscription differs from the content last sent — this is also NACK parking: after a
 * NACK the last sent content is the rejected one, so it is not sent again until the snapshot
 * yields different content for this stream — and (3) the make-before-break order allows it.
 * Each response holds the full set of subscribed resources; an omitted resource is deleted.
 *
 * Make-before-break, between BackendResource (referenced) and GatewayResource (referencing), on
 * each stream that subscribes to both:
 *   1. backends: new and changed backends are sent first; backends that disappear are kept (at the
 *      content the gateway holds) while its gateway resources are not yet at the new snapshot.
 *      That response's version is `<version>+retain` when anything is kept.
 *   2. gateways: sent only after the gateway ACKed backends at step 1's content. If backends are
 *      NACKed, gateways of that snapshot are held back (they may reference what was rejected).
 *   3. backends again, without the removed ones, once the gateway ACKed the new gateway content.
 *      If the gateways were NACKed, removed backends stay until a later snapshot is ACKed.
 * A stream subscribing to only one of the two types gets it without waiting. The order holds for
 * the types a stream has asked for: XdsClient subscribes to backends before gateways. A stream
 * resuming with a recent version (SnapshotCache.recent) keeps the order across the reconnect; such
 * a stream is expected to subscribe to gateways too (until it does, removed backends are kept).
 */
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, type DiscoveryRequest, type DiscoveryResponse } from '@jarvis/api';
import type { GatewayStatus, StreamInfo, XdsObserver } from './observer.js';
import type { Snapshot, SnapshotResource, TypeSnapshot } from './snapshot.js';

type Content = ReadonlyMap<string, SnapshotResource>;

interface Held {
  version: string;
  content: Content;
}

interface TypeState {
  readonly typeUrl: string;
  /** undefined: wildcard. */
  names: ReadonlySet<string> | undefined;
  /** A request waits for a response. */
  open: boolean;
  /** The latest response. */
  sent: (Held & { nonce: string }) | undefined;
  /** What the gateway holds, as far as we know. */
  acked: Held | undefined;
  nacked: { version: string; message: string } | undefined;
  /** version_info of the first request (a resumed stream), until the first pump. */
  resume: string | undefined;
}

/** Types served in this order: referenced types before the types that reference them. */
const ORDER: readonly string[] = [BACKEND_TYPE_URL, GATEWAY_TYPE_URL];

export interface StreamDeps {
  readonly info: StreamInfo;
  readonly snapshot: () => Snapshot | undefined;
  /** A recent version of a type, for streams that resume with it (SnapshotCache.recent). */
  readonly recent?: (typeUrl: string, version: string) => TypeSnapshot | undefined;
  readonly send: (response: DiscoveryResponse) => void;
  readonly observer: XdsObserver;
  /** Type URLs this server serves; requests for others are ignored. */
  readonly typeUrls: ReadonlySet<string>;
}

function sameContent(a: Content | undefined, b: Content | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [name, r] of a) if (b.get(name)?.hash !== r.hash) return false;
  return true;
}

function namesOf(req: DiscoveryRequest): ReadonlySet<string> | undefined {
  if (req.resource_names.length === 0 || req.resource_names.includes('*')) return undefined;
  return new Set(req.resource_names);
}

export class AdsStream {
  readonly #deps: StreamDeps;
  readonly #types = new Map<string, TypeState>();
  #nonce = 0;
  /**
   * Backends were resumed with content the gateway holds: its gateway resources may still
   * reference them, so they are kept even before the gateway type is (re)subscribed — requests
   * of one burst can reach us in separate ticks.
   */
  #expectGateways = false;

  constructor(deps: StreamDeps) {
    this.#deps = deps;
  }

  get info(): StreamInfo {
    return this.#deps.info;
  }

  /** Applies one request (the node was taken from the first one by the caller). */
  onRequest(req: DiscoveryRequest): void {
    const { observer, info, typeUrls } = this.#deps;
    if (!typeUrls.has(req.type_url)) {
      observer.ignored?.(info, req.type_url, 'type URL not served');
      return;
    }
    let st = this.#types.get(req.type_url);
    if (st === undefined) {
      st = {
        typeUrl: req.type_url,
        names: namesOf(req),
        open: true,
        sent: undefined,
        acked: undefined,
        nacked: undefined,
        resume: req.version_info === '' ? undefined : req.version_info,
      };
      this.#types.set(req.type_url, st);
      return;
    }
    const latest = st.sent?.nonce ?? '';
    if (req.response_nonce !== latest) {
      observer.ignored?.(info, req.type_url, `stale response_nonce "${req.response_nonce.slice(0, 64)}" (latest "${latest}")`);
      return;
    }
    st.names = namesOf(req);
    if (st.open || st.sent === undefined) return; // a repeated answer: only the names count
    st.open = true;
    const sent = st.sent;
    if (req.error_detail) {
      st.nacked = { version: sent.version, message: req.error_detail.message };
      observer.nacked?.(info, st.typeUrl, sent.version, req.error_detail.message);
    } else {
      st.acked = { version: sent.version, content: sent.content };
      st.nacked = undefined;
      observer.acked?.(info, st.typeUrl, sent.version);
    }
  }

  /** Sends whatever the current snapshot and the protocol state allow (see the module comment). */
  pump(): void {
    const snap = this.#deps.snapshot();
    if (snap === undefined) return;
    for (const st of this.#types.values()) this.#resume(st, snap);
    const gw = this.#types.get(GATEWAY_TYPE_URL);
    const be = this.#types.get(BACKEND_TYPE_URL);
    const gwDesired = gw === undefined ? undefined : this.#desired(gw, snap, undefined);
    // Gateways are "settled" when the gateway holds the content of this snapshot.
    const gwSettled =
      gw === undefined ? !this.#expectGateways : gwDesired === undefined || sameContent(gw.acked?.content, gwDesired.content);
    const beDesired = be === undefined ? undefined : this.#desired(be, snap, gwSettled ? undefined : be.acked?.content);
    if (be !== undefined && beDesired !== undefined) this.#maybeSend(be, beDesired);
    const backendsPending = beDesired !== undefined && !sameContent(be?.acked?.content, beDesired.content);
    if (gw !== undefined && gwDesired !== undefined && !backendsPending) this.#maybeSend(gw, gwDesired);
    for (const [typeUrl, st] of this.#types) {
      if (ORDER.includes(typeUrl)) continue;
      const d = this.#desired(st, snap, undefined);
      if (d !== undefined) this.#maybeSend(st, d);
    }
  }

  status(): GatewayStatus {
    const acked: Record<string, string> = {};
    const nacked: Record<string, { version: string; message: string }> = {};
    for (const st of this.#types.values()) {
      if (st.acked !== undefined) acked[st.typeUrl] = st.acked.version;
      if (st.nacked !== undefined) nacked[st.typeUrl] = { ...st.nacked };
    }
    return { ...this.#deps.info, acked, ...(Object.keys(nacked).length > 0 ? { nacked } : {}) };
  }

  /** The subscribed content of the snapshot, plus `keep` resources missing from it (step 1). */
  #desired(st: TypeState, snap: Snapshot, keep: Content | undefined): Held | undefined {
    const ts = snap.types.get(st.typeUrl);
    if (ts === undefined) return undefined;
    const content = this.#subscribed(st, ts);
    let kept = 0;
    if (keep !== undefined) {
      for (const [n, r] of keep) {
        if (!content.has(n) && (st.names === undefined || st.names.has(n))) {
          content.set(n, r);
          kept++;
        }
      }
    }
    return { version: kept > 0 ? `${ts.version}+retain` : ts.version, content };
  }

  /**
   * A resumed stream: the gateway says it holds version `resume`. The current version needs no
   * push; a recent version tells what the gateway holds (for make-before-break); anything else
   * is unknown and the gateway gets the current content.
   */
  #resume(st: TypeState, snap: Snapshot): void {
    const ts = snap.types.get(st.typeUrl);
    if (st.resume === undefined || ts === undefined) return;
    const resumed = st.resume;
    st.resume = undefined;
    if (st.sent !== undefined) return;
    let held: Held | undefined;
    if (resumed === ts.version) held = { version: ts.version, content: this.#subscribed(st, ts) };
    else {
      const old = this.#deps.recent?.(st.typeUrl, resumed);
      if (old !== undefined) held = { version: resumed, content: this.#subscribed(st, old) };
    }
    if (held === undefined) return;
    if (st.typeUrl === BACKEND_TYPE_URL) this.#expectGateways = true;
    st.acked = held;
    this.#deps.observer.acked?.(this.#deps.info, st.typeUrl, held.version);
  }

  #subscribed(st: TypeState, ts: TypeSnapshot): Map<string, SnapshotResource> {
    if (st.names === undefined) return new Map(ts.resources);
    const content = new Map<string, SnapshotResource>();
    for (const n of st.names) {
      const r = ts.resources.get(n);
      if (r !== undefined) content.set(n, r);
    }
    return content;
  }

  #maybeSend(st: TypeState, d: Held): void {
    const last = st.sent ?? st.acked;
    if (last !== undefined && sameContent(last.content, d.content)) {
      // Same content under a new version: the gateway already holds it; no resend.
      if (st.acked !== undefined && st.acked.version !== d.version && sameContent(st.acked.content, d.content) && st.open) {
        st.acked = { version: d.version, content: d.content };
        this.#deps.observer.acked?.(this.#deps.info, st.typeUrl, d.version);
      }
      return;
    }
    if (!st.open) return;
    const nonce = `${this.#deps.info.streamId}-${++this.#nonce}`;
    st.open = false;
    st.sent = { version: d.version, content: d.content, nonce };
    const resources = [...d.content.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((r) => r.resource);
    this.#deps.send({ version_info: d.version, resources, type_url: st.typeUrl, nonce });
    this.#deps.observer.pushed?.(this.#deps.info, st.typeUrl, d.version, nonce, resources.length);
  }
}
