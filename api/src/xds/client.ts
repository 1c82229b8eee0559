/**
 * The gateway side of ADS (State of the World): one stream to the operator, a subscription per
 * type URL, every response decoded and validated before it is ACKed; a rejected response is NACKed
 * with the last accepted version and the previous config stays in force. The stream is reopened
 * with bounded exponential backoff and jitter; on reopen each subscription carries its last
 * accepted version, so a server holding the same version need not resend it.
 *
 * Also the "gateway-side test client" for protocol and e2e tests.
 */
import {
  Client,
  credentials as grpcCredentials,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { RESOURCE_TYPE_URLS, decodeResource, type DecodeResult, type DecodedResource, type ResourceTypeUrl } from '../wire/resources.js';
import {
  CODE_INVALID_ARGUMENT,
  adsStreamMethod,
  parseDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type NodeInfo,
} from './messages.js';
import { Backoff, timerScheduler, type BackoffOptions, type Cancel, type Scheduler } from './scheduler.js';

export type ValidateResult = { ok: true } | { ok: false; error: string };
type CheckResult = { ok: true; resources: DecodedResource[] } | { ok: false; error: string };

/** Most responses held while one is being validated. */
const MAX_BACKLOG = 16;

export interface Subscription {
  readonly typeUrl: string;
  /** Explicit resource names; empty or absent = wildcard (every resource of the type). */
  readonly names?: readonly string[];
}

export interface AcceptedConfig {
  readonly version: string;
  readonly resources: readonly DecodedResource[];
}

export interface XdsClientEvents {
  /** The stream delivered its first response (the server is reachable and serving). */
  connected?(): void;
  /** The stream ended; `retryInMs` is undefined after close(). */
  disconnected?(status: { code: number; details: string }, retryInMs: number | undefined): void;
  /** A response was decoded, validated and ACKed. */
  accepted?(typeUrl: string, config: AcceptedConfig): void;
  /** A response was NACKed; the previously accepted config of that type stays. */
  rejected?(typeUrl: string, version: string, error: string): void;
}

export interface XdsClientOptions {
  /** `host:port` of the operator's xDS listener. */
  readonly target: string;
  /** Default: plaintext. */
  readonly credentials?: ChannelCredentials;
  readonly channelOptions?: ChannelOptions;
  /** Sent on each stream's first request; `cluster` carries the gateway's group. */
  readonly node: NodeInfo;
  /**
   * One per type URL. Sent when a stream opens, backends before gateways whatever the order here
   * (the server orders its pushes, make-before-break, among the types a stream has subscribed).
   */
  readonly subscriptions: readonly Subscription[];
  /**
   * Checks a decoded response before it is ACKed (e.g. with validateGatewayResource); `version`
   * is the response's version_info, which an ACK will hold. It may take its time (a promise, e.g.
   * a large config compiled in slices): responses are then handled one at a time, in the order
   * they arrived.
   */
  readonly validate?: (typeUrl: string, resources: readonly DecodedResource[], version: string) => ValidateResult | Promise<ValidateResult>;
  /** Default: decodeResource. */
  readonly decode?: (resource: unknown, typeUrl: string) => DecodeResult;
  readonly events?: XdsClientEvents;
  readonly backoff?: BackoffOptions;
  readonly scheduler?: Scheduler;
  /** Jitter source; default Math.random. */
  readonly random?: () => number;
  /** Versions held from before (e.g. the last good config on disk), sent on the first stream. */
  readonly initialVersions?: Readonly<Record<string, string>>;
}

interface TypeState {
  readonly typeUrl: string;
  readonly names: readonly string[];
  /** undefined: wildcard. */
  readonly nameSet: ReadonlySet<string> | undefined;
  version: string;
  accepted: AcceptedConfig | undefined;
}

type Stream = ClientDuplexStream<object, object>;

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class XdsClient {
  readonly #opts: XdsClientOptions;
  /** One channel per stream attempt: our backoff decides when to reconnect, not the channel's. */
  #grpc: Client | undefined;
  readonly #types = new Map<string, TypeState>();
  readonly #backoff: Backoff;
  readonly #scheduler: Scheduler;
  #stream: Stream | undefined;
  #retry: Cancel | undefined;
  #closed = false;
  #started = false;

  constructor(options: XdsClientOptions) {
    this.#opts = options;
    this.#backoff = new Backoff(options.backoff, options.random);
    this.#scheduler = options.scheduler ?? timerScheduler;
    // Referenced types first (backends before gateways), whatever the order given: the server's
    // make-before-break order can only hold for types it has already been asked for.
    const rank = (typeUrl: string): number => {
      const i = RESOURCE_TYPE_URLS.indexOf(typeUrl as ResourceTypeUrl);
      return i < 0 ? RESOURCE_TYPE_URLS.length : i;
    };
    for (const s of [...options.subscriptions].sort((a, b) => rank(a.typeUrl) - rank(b.typeUrl))) {
      const names = (s.names ?? []).filter((n) => n !== '*');
      this.#types.set(s.typeUrl, {
        typeUrl: s.typeUrl,
        names,
        nameSet: names.length === 0 ? undefined : new Set(names),
        version: options.initialVersions?.[s.typeUrl] ?? '',
        accepted: undefined,
      });
    }
  }

  /** Opens the stream (once). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#open();
  }

  /** The last accepted config of a type. */
  accepted(typeUrl: string): AcceptedConfig | undefined {
    return this.#types.get(typeUrl)?.accepted;
  }

  /** The last accepted version per subscribed type ('' when none). */
  versions(): Record<string, string> {
    return Object.fromEntries([...this.#types.values()].map((t) => [t.typeUrl, t.version]));
  }

  /** Ends the stream and the channel; no reconnect afterwards. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#retry?.();
    this.#retry = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
    this.#grpc?.close();
    this.#grpc = undefined;
    return Promise.resolve();
  }

  #open(): void {
    const m = adsStreamMethod();
    this.#grpc?.close();
    const o = this.#opts;
    this.#grpc = new Client(o.target, o.credentials ?? grpcCredentials.createInsecure(), o.channelOptions);
    const stream = this.#grpc.makeBidiStreamRequest<object, object>(m.path, m.requestSerialize, m.responseDeserialize, new Metadata());
    this.#stream = stream;
    let first = true;
    stream.on('data', (msg: unknown) => {
      if (this.#stream !== stream) return;
      if (first) {
        first = false;
        this.#backoff.reset();
        this.#opts.events?.connected?.();
      }
      this.#enqueue(stream, msg);
    });
    // Errors arrive as a status too; the listener keeps them from being thrown.
    stream.on('error', () => undefined);
    stream.on('status', (status: StatusObject) => this.#onEnd(stream, status));
    let firstRequest = true;
    for (const t of this.#types.values()) {
      this.#send(stream, {
        version_info: t.version,
        node: firstRequest ? this.#opts.node : null,
        resource_names: t.names,
        type_url: t.typeUrl,
        response_nonce: '',
        error_detail: null,
      });
      firstRequest = false;
    }
  }

  #send(stream: Stream, req: DiscoveryRequest): void {
    stream.write(req);
  }

  #onEnd(stream: Stream, status: StatusObject): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    const summary = { code: status.code, details: status.details };
    if (this.#closed) {
      this.#opts.events?.disconnected?.(summary, undefined);
      return;
    }
    const delay = this.#backoff.next();
    this.#opts.events?.disconnected?.(summary, delay);
    this.#retry = this.#scheduler.schedule(delay, () => {
      this.#retry = undefined;
      if (!this.#closed) this.#open();
    });
  }

  /** Responses waiting while an earlier one is validated asynchronously (bounded: the server sends one per type until answered). */
  readonly #backlog: { stream: Stream; msg: unknown }[] = [];
  #validating = false;

  #enqueue(stream: Stream, msg: unknown): void {
    if (this.#validating) {
      if (this.#backlog.length >= MAX_BACKLOG) this.#backlog.shift(); // the newest of a type supersedes anyway
      this.#backlog.push({ stream, msg });
      return;
    }
    this.#onResponse(stream, msg);
  }

  #drain(): void {
    while (!this.#validating) {
      const next = this.#backlog.shift();
      if (next === undefined) return;
      if (this.#stream === next.stream) this.#onResponse(next.stream, next.msg);
    }
  }

  #onResponse(stream: Stream, msg: unknown): void {
    const res = parseDiscoveryResponse(msg);
    if (typeof res === 'string') {
      // Without a usable nonce or type there is nothing to answer; the next response will do.
      return;
    }
    const t = this.#types.get(res.type_url);
    if (t === undefined) {
      this.#nack(stream, res, '', [], `type ${res.type_url} was not subscribed`);
      return;
    }
    const checked = this.#check(t, res);
    if (checked instanceof Promise) {
      this.#validating = true;
      void checked.then((c) => {
        this.#validating = false;
        if (this.#stream === stream) this.#answer(stream, t, res, c);
        this.#drain();
      });
      return;
    }
    this.#answer(stream, t, res, checked);
  }

  #answer(stream: Stream, t: TypeState, res: DiscoveryResponse, checked: CheckResult): void {
    if (!checked.ok) {
      this.#nack(stream, res, t.version, t.names, checked.error);
      this.#opts.events?.rejected?.(t.typeUrl, res.version_info, checked.error);
      return;
    }
    t.version = res.version_info;
    t.accepted = { version: res.version_info, resources: checked.resources };
    this.#send(stream, {
      version_info: res.version_info,
      node: null,
      resource_names: t.names,
      type_url: t.typeUrl,
      response_nonce: res.nonce,
      error_detail: null,
    });
    this.#opts.events?.accepted?.(t.typeUrl, t.accepted);
  }

  #check(t: TypeState, res: DiscoveryResponse): CheckResult | Promise<CheckResult> {
    const decode = this.#opts.decode ?? decodeResource;
    const resources: DecodedResource[] = [];
    const seen = new Set<string>();
    for (const resource of res.resources) {
      let d: DecodeResult;
      try {
        d = decode(resource, t.typeUrl);
      } catch (e) {
        d = { ok: false, error: `decoder failed: ${errorMessage(e)}` };
      }
      if (!d.ok) return d;
      if (seen.has(d.resource.name)) return { ok: false, error: `resource "${d.resource.name}" appears twice` };
      seen.add(d.resource.name);
      // SotW with explicit names: a resource we did not ask for is ignored.
      if (t.nameSet === undefined || t.nameSet.has(d.resource.name)) resources.push(d.resource);
    }
    if (this.#opts.validate !== undefined) {
      let v: ValidateResult | Promise<ValidateResult>;
      try {
        v = this.#opts.validate(t.typeUrl, resources, res.version_info);
      } catch (e) {
        v = { ok: false, error: `validation failed: ${errorMessage(e)}` };
      }
      if (v instanceof Promise)
        return v.then(
          (r): CheckResult => (r.ok ? { ok: true, resources } : r),
          (e: unknown): CheckResult => ({ ok: false, error: `validation failed: ${errorMessage(e)}` }),
        );
      if (!v.ok) return v;
    }
    return { ok: true, resources };
  }

  #nack(stream: Stream, res: DiscoveryResponse, version: string, names: readonly string[], error: string): void {
    this.#send(stream, {
      version_info: version,
      node: null,
      resource_names: names,
      type_url: res.type_url,
      response_nonce: res.nonce,
      error_detail: { code: CODE_INVALID_ARGUMENT, message: error },
    });
  }
}
