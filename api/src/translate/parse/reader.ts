/**
 * Readers for untrusted JSON: each returns a typed value or throws a ParseFailure naming the
 * field, which the caller turns into a reported problem for the whole object.
 */
import { isObject, type JsonObject } from '../../validate/schema-node.js';
import type { Meta } from '../model.js';

export class ParseFailure extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const fail = (path: string, message: string): never => {
  throw new ParseFailure(path, message);
};

export function object(v: unknown, path: string): JsonObject {
  return isObject(v) ? v : fail(path, v === undefined ? 'required' : 'must be an object');
}

export function optObject(v: unknown, path: string): JsonObject | undefined {
  return v === undefined || v === null ? undefined : object(v, path);
}

export function list(v: unknown, path: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : fail(path, 'must be a list');
}

export function string(v: unknown, path: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fail(path, v === undefined ? 'required' : 'must be a non-empty string');
}

export function optString(v: unknown, path: string): string | undefined {
  return v === undefined || v === null ? undefined : typeof v === 'string' ? v : fail(path, 'must be a string');
}

export function optInteger(v: unknown, path: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(path, `must be an integer from ${min} to ${max}`);
}

export function integer(v: unknown, path: string, min: number, max: number): number {
  return optInteger(v, path, min, max) ?? fail(path, 'required');
}

export function optBoolean(v: unknown, path: string): boolean | undefined {
  return v === undefined || v === null ? undefined : typeof v === 'boolean' ? v : fail(path, 'must be a boolean');
}

export function enumOf<const V extends readonly string[]>(v: unknown, path: string, values: V, fallback: V[number]): V[number] {
  if (v === undefined || v === null) return fallback;
  return typeof v === 'string' && values.includes(v) ? (v as V[number]) : fail(path, `must be one of ${values.join(', ')}`);
}

export function stringMap(v: unknown, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(optObject(v, path) ?? {}))
    out[k] = typeof val === 'string' ? val : fail(`${path}.${k}`, 'must be a string');
  return out;
}

/** The metadata of a namespaced (or, with `namespaced` false, cluster-scoped) object. */
export function meta(obj: JsonObject, defaultNamespace: string, namespaced = true): Meta {
  const m = object(obj.metadata, 'metadata');
  const creationTimestamp = optString(m.creationTimestamp, 'metadata.creationTimestamp');
  const uid = optString(m.uid, 'metadata.uid');
  return {
    namespace: namespaced ? optString(m.namespace, 'metadata.namespace') || defaultNamespace : '',
    name: string(m.name, 'metadata.name'),
    generation: optInteger(m.generation, 'metadata.generation', 0, Number.MAX_SAFE_INTEGER) ?? 0,
    ...(uid ? { uid } : {}),
    ...(creationTimestamp ? { creationTimestamp } : {}),
    labels: stringMap(m.labels, 'metadata.labels'),
  };
}
