/**
 * Secrets (v1) at the edge: only those labelled for identity (IDENTITY_SECRET_LABEL) are read —
 * the operator lists no other, and the standalone loader skips others the same way. The values
 * are decoded here and stay inside the translator: what leaves it is a JWKS (public keys) or the
 * SHA-256 of an API key.
 */
import { IDENTITY_SECRET_LABEL } from '../../schema/identity.js';
import type { JsonObject } from '../../validate/schema-node.js';
import type { SecretModel } from '../model.js';
import { meta, optObject, stringMap } from './reader.js';
import { ParseFailure } from './reader.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether a Secret carries the identity label (only those are parsed). */
export function isIdentitySecret(obj: JsonObject): boolean {
  const m = optObject(obj.metadata, 'metadata');
  const labels = m ? optObject(m.labels, 'metadata.labels') : undefined;
  return labels !== undefined && typeof labels[IDENTITY_SECRET_LABEL] === 'string';
}

export function parseSecret(obj: JsonObject, defaultNamespace: string): SecretModel {
  const m = meta(obj, defaultNamespace);
  const raw = optObject(obj.metadata, 'metadata') ?? {};
  const annotations = stringMap(raw.annotations, 'metadata.annotations');
  const data = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(stringMap(obj.data, 'data'))) {
    if (!BASE64.test(v) || v.length % 4 !== 0) throw new ParseFailure(`data[${k}]`, 'must be base64');
    data.set(k, Buffer.from(v, 'base64'));
  }
  // stringData is write-only on the apiserver; files (standalone mode, the CLI) may use it.
  for (const [k, v] of Object.entries(stringMap(obj.stringData, 'stringData'))) data.set(k, Buffer.from(v, 'utf8'));
  return { meta: m, annotations, data };
}
