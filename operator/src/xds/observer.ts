/**
 * What the ADS server tells the rest of the operator (status writer, metrics, logs). One small
 * callback interface; every method is optional and is called synchronously — keep them cheap.
 */
export interface StreamInfo {
  /** Unique per server process. */
  readonly streamId: string;
  readonly nodeId: string;
  readonly group: string;
  /** Remote address as grpc-js reports it. */
  readonly peer: string;
  /** What the gateway announced it enforces (node.client_features, see api/src/features.ts). */
  readonly features: readonly string[];
}

export interface XdsObserver {
  connected?(stream: StreamInfo): void;
  disconnected?(stream: StreamInfo, reason: string): void;
  pushed?(stream: StreamInfo, typeUrl: string, version: string, nonce: string, resourceCount: number): void;
  /**
   * The gateway holds this version of the type. Usually an ACK; also reported without a push when
   * the gateway resumed with the current version, or when a new snapshot version has exactly the
   * content the gateway already holds for its subscription (no resend needed).
   */
  acked?(stream: StreamInfo, typeUrl: string, version: string): void;
  /** The gateway rejected this version; it is not sent again on this stream (see stream.ts). */
  nacked?(stream: StreamInfo, typeUrl: string, version: string, message: string): void;
  /** A request that was ignored, e.g. a stale response_nonce (for debugging and metrics). */
  ignored?(stream: StreamInfo, typeUrl: string, reason: string): void;
}

export interface GatewayStatus extends StreamInfo {
  /** The version each type is held at (see XdsObserver.acked). */
  readonly acked: Readonly<Record<string, string>>;
  /** Types whose latest push was rejected, with the rejected version and the gateway's message. */
  readonly nacked?: Readonly<Record<string, { readonly version: string; readonly message: string }>>;
}
