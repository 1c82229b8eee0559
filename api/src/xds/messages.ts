/**
 * envoy.service.discovery.v3 ADS (State of the World) as both sides see it: the method, its
 * serializers (proto-loader, field names as in the .proto) and typed, checked views of the
 * messages. Whatever arrives from the network is parsed here into these types before use.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type { Any } from '../wire/resources.js';
import { MAX_CLIENT_FEATURES, MAX_FEATURE_LENGTH } from '../features.js';
import { loadAdsDefinition } from '../wire/protos.js';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_STREAM_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;

/** envoy.config.core.v3.Node, the fields we use. */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly user_agent_name?: string;
  /** What the client supports; our gateways announce the policy features they enforce (features.ts). */
  readonly client_features?: readonly string[];
}

/** google.rpc.Status as carried in DiscoveryRequest.error_detail. */
export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node?: NodeInfo | null;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  /** Present on a NACK only. */
  readonly error_detail?: ErrorDetail | null;
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly Any[];
  readonly type_url: string;
  readonly nonce: string;
}

/** google.rpc.Code.INVALID_ARGUMENT, the code of our NACKs. */
export const CODE_INVALID_ARGUMENT = 3;

/** Bounds on what we accept from a peer (a request naming more resources is refused). */
export const MAX_RESOURCE_NAMES = 10_000;
const MAX_STRING = 4096;

function str(obj: object, key: string): string | undefined {
  const v: unknown = Reflect.get(obj, key);
  if (v === undefined || v === null) return '';
  return typeof v === 'string' && v.length <= MAX_STRING ? v : undefined;
}

function parseNode(v: unknown): NodeInfo | null | string {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object') return 'node is not a message';
  const id = str(v, 'id');
  const cluster = str(v, 'cluster');
  const ua = str(v, 'user_agent_name');
  if (id === undefined || cluster === undefined || ua === undefined) return 'node has an invalid id, cluster or user_agent_name';
  const list: unknown = Reflect.get(v, 'client_features') ?? [];
  if (!Array.isArray(list)) return 'node.client_features is not a list';
  if (list.length > MAX_CLIENT_FEATURES) return `node.client_features has more than ${MAX_CLIENT_FEATURES} entries`;
  const client_features: string[] = [];
  for (const f of list as unknown[]) {
    if (typeof f !== 'string' || f.length === 0 || f.length > MAX_FEATURE_LENGTH) return 'node.client_features holds an invalid entry';
    client_features.push(f);
  }
  return { id, cluster, user_agent_name: ua, client_features };
}

/** Checks a deserialized DiscoveryRequest; returns an error message when it is unusable. */
export function parseDiscoveryRequest(v: unknown): DiscoveryRequest | string {
  if (typeof v !== 'object' || v === null) return 'request is not a message';
  const version_info = str(v, 'version_info');
  const type_url = str(v, 'type_url');
  const response_nonce = str(v, 'response_nonce');
  if (version_info === undefined || type_url === undefined || response_nonce === undefined) {
    return 'request has an invalid version_info, type_url or response_nonce';
  }
  const names: unknown = Reflect.get(v, 'resource_names') ?? [];
  if (!Array.isArray(names)) return 'resource_names is not a list';
  if (names.length > MAX_RESOURCE_NAMES) return `more than ${MAX_RESOURCE_NAMES} resource names`;
  const resource_names: string[] = [];
  for (const n of names as unknown[]) {
    if (typeof n !== 'string' || n.length > MAX_STRING) return 'resource_names holds an invalid name';
    resource_names.push(n);
  }
  const node = parseNode(Reflect.get(v, 'node'));
  if (typeof node === 'string') return node;
  const ed: unknown = Reflect.get(v, 'error_detail');
  let error_detail: ErrorDetail | null = null;
  if (ed !== undefined && ed !== null) {
    if (typeof ed !== 'object') return 'error_detail is not a message';
    const code: unknown = Reflect.get(ed, 'code');
    const message: unknown = Reflect.get(ed, 'message');
    error_detail = {
      code: typeof code === 'number' ? code : 0,
      message: typeof message === 'string' ? message.slice(0, MAX_STRING) : '',
    };
  }
  return { version_info, node, resource_names, type_url, response_nonce, error_detail };
}

/** Checks a deserialized DiscoveryResponse; resources are left as they came (decoded later). */
export function parseDiscoveryResponse(v: unknown): DiscoveryResponse | string {
  if (typeof v !== 'object' || v === null) return 'response is not a message';
  const version_info = str(v, 'version_info');
  const type_url = str(v, 'type_url');
  const nonce = str(v, 'nonce');
  if (version_info === undefined || type_url === undefined || nonce === undefined) {
    return 'response has an invalid version_info, type_url or nonce';
  }
  const list: unknown = Reflect.get(v, 'resources') ?? [];
  if (!Array.isArray(list)) return 'resources is not a list';
  const resources: Any[] = [];
  for (const r of list as unknown[]) {
    const typeUrl: unknown = typeof r === 'object' && r !== null ? Reflect.get(r, 'type_url') : undefined;
    const value: unknown = typeof r === 'object' && r !== null ? Reflect.get(r, 'value') : undefined;
    resources.push({
      type_url: typeof typeUrl === 'string' ? typeUrl : '',
      value: value instanceof Uint8Array ? value : new Uint8Array(0),
    });
  }
  return { version_info, resources, type_url, nonce };
}

let method: MethodDefinition<object, object> | undefined;

/** StreamAggregatedResources with proto-loader's serializers (loaded once); messages are plain objects. */
export function adsStreamMethod(): MethodDefinition<object, object> {
  if (method !== undefined) return method;
  const def = loadAdsDefinition()[ADS_SERVICE];
  if (def === undefined || 'format' in def) throw new Error(`${ADS_SERVICE} missing from the loaded protos`);
  const m = def['StreamAggregatedResources'];
  if (m === undefined) throw new Error('StreamAggregatedResources missing from the loaded protos');
  method = {
    path: m.path,
    requestStream: true,
    responseStream: true,
    requestSerialize: m.requestSerialize,
    requestDeserialize: m.requestDeserialize,
    responseSerialize: m.responseSerialize,
    responseDeserialize: m.responseDeserialize,
  };
  return method;
}

/**
 * The ADS service with only the SotW method: grpc-js answers DeltaAggregatedResources with
 * UNIMPLEMENTED, which xDS clients take as "use SotW".
 */
export function adsServiceDefinition(): ServiceDefinition {
  return { StreamAggregatedResources: adsStreamMethod() };
}
