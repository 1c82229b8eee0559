/**
 * IR resources on the wire: one GatewayResource per GatewayIR and one BackendResource per
 * BackendIR, each packed in a google.protobuf.Any. Encoding is for the operator; decoding is for
 * gateways and never trusts its input: every failure is a value with a message fit for a NACK.
 */
import { createHash } from 'node:crypto';
import { IR_VERSION, type IR } from '../ir/types.js';
import { decodeResourceMessage, encodeResourceMessage } from './codec.js';

export const TYPE_URL_PREFIX = 'type.googleapis.com/';
export const GATEWAY_RESOURCE_TYPE = 'jarvis.stability.v1alpha1.GatewayResource';
export const BACKEND_RESOURCE_TYPE = 'jarvis.stability.v1alpha1.BackendResource';
export const GATEWAY_TYPE_URL = `${TYPE_URL_PREFIX}${GATEWAY_RESOURCE_TYPE}` as const;
export const BACKEND_TYPE_URL = `${TYPE_URL_PREFIX}${BACKEND_RESOURCE_TYPE}` as const;
export type ResourceTypeUrl = typeof GATEWAY_TYPE_URL | typeof BACKEND_TYPE_URL;
export const RESOURCE_TYPE_URLS: readonly ResourceTypeUrl[] = [BACKEND_TYPE_URL, GATEWAY_TYPE_URL];

/** google.protobuf.Any as proto-loader represents it (field names as in the .proto). */
export interface Any {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export interface EncodedResources {
  /** By GatewayIR.id. */
  readonly gateways: ReadonlyMap<string, Any>;
  /** By BackendIR.id. */
  readonly backends: ReadonlyMap<string, Any>;
}

/** `sha256:<hex>` of the bytes. */
export function contentHash(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Packs one IR object (with a string `id`) as the given resource type. */
export function encodeResource(typeUrl: ResourceTypeUrl, ir: { readonly id: string }): Any {
  const irJson = Buffer.from(JSON.stringify(ir), 'utf8');
  const value = encodeResourceMessage({ name: ir.id, irVersion: IR_VERSION, contentHash: contentHash(irJson), irJson });
  return { type_url: typeUrl, value };
}

/** Encodes a config: one Any per gateway and per backend, keyed by resource name (the IR id). */
export function encodeResources(ir: IR): EncodedResources {
  const gateways = new Map<string, Any>();
  for (const g of ir.gateways) {
    if (gateways.has(g.id)) throw new Error(`duplicate gateway id ${g.id}`);
    gateways.set(g.id, encodeResource(GATEWAY_TYPE_URL, g));
  }
  const backends = new Map<string, Any>();
  for (const b of ir.backends) {
    if (backends.has(b.id)) throw new Error(`duplicate backend id ${b.id}`);
    backends.set(b.id, encodeResource(BACKEND_TYPE_URL, b));
  }
  return { gateways, backends };
}

export interface DecodedResource {
  readonly typeUrl: ResourceTypeUrl;
  /** The resource name, equal to the payload's `id`. */
  readonly name: string;
  readonly contentHash: string;
  /**
   * The parsed IR object: a JSON object whose `id` is `name`. Not validated beyond that: the
   * receiver validates it against the IR (validateGatewayResource / validateBackendResource).
   */
  readonly payload: unknown;
}

export type DecodeResult = { ok: true; resource: DecodedResource } | { ok: false; error: string };

function isResourceTypeUrl(typeUrl: string): typeUrl is ResourceTypeUrl {
  return typeUrl === GATEWAY_TYPE_URL || typeUrl === BACKEND_TYPE_URL;
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes one resource. `expectedTypeUrl`, when given, is the type URL of the response that
 * carried it (an Any of another type in that response is an error). Never throws.
 */
export function decodeResource(resource: unknown, expectedTypeUrl?: string): DecodeResult {
  const err = (error: string): DecodeResult => ({ ok: false, error });
  if (typeof resource !== 'object' || resource === null) return err(`resource is ${describe(resource)}, not a google.protobuf.Any`);
  const typeUrl: unknown = Reflect.get(resource, 'type_url');
  const value: unknown = Reflect.get(resource, 'value');
  if (typeof typeUrl !== 'string') return err('resource has no type_url');
  if (!isResourceTypeUrl(typeUrl)) return err(`unknown resource type URL "${typeUrl.slice(0, 200)}"`);
  if (expectedTypeUrl !== undefined && typeUrl !== expectedTypeUrl) {
    return err(`resource of type "${typeUrl}" in a response for "${expectedTypeUrl}"`);
  }
  if (!(value instanceof Uint8Array)) return err(`resource value is ${describe(value)}, not bytes`);
  const decoded = decodeResourceMessage(value);
  if (!decoded.ok) return err(`${typeUrl}: ${decoded.error}`);
  const msg = decoded.message;
  const label = msg.name === '' ? typeUrl : `${typeUrl} "${msg.name}"`;
  if (msg.name === '') return err(`${typeUrl}: resource has an empty name`);
  if (msg.irVersion !== IR_VERSION) {
    return err(`${label}: IR version ${msg.irVersion} is not supported (this build reads IR version ${IR_VERSION})`);
  }
  const actualHash = contentHash(msg.irJson);
  if (msg.contentHash !== actualHash) {
    return err(`${label}: content hash mismatch (message says "${msg.contentHash.slice(0, 80)}", payload is ${actualHash})`);
  }
  let text: string;
  try {
    text = strictUtf8.decode(msg.irJson);
  } catch {
    return err(`${label}: ir_json is not valid UTF-8`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (e) {
    return err(`${label}: ir_json is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return err(`${label}: ir_json is ${describe(payload)}, not an object`);
  }
  const id: unknown = Reflect.get(payload, 'id');
  if (typeof id !== 'string') return err(`${label}: IR object has no string id`);
  if (id !== msg.name) return err(`${label}: name does not match the IR id "${id.slice(0, 200)}"`);
  return { ok: true, resource: { typeUrl, name: msg.name, contentHash: msg.contentHash, payload } };
}
