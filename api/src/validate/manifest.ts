/**
 * Offline validation of one manifest of our kinds, against the very schema the CRD carries:
 * apiVersion and kind, metadata, then `spec` defaulted (as the apiserver does), checked
 * structurally (strict: unknown fields are errors), then checked by the CEL rules — unless an
 * error found so far makes the apiserver skip them (then the result says so, as it does).
 */
import { plainSchema } from '../crd/render.js';
import { PolicyStatus } from '../schema/common.js';
import { API_VERSION, GROUP, KINDS, type Policy, type PolicyKind } from '../schema/kinds.js';
import { validateCel } from './cel.js';
import { applyDefaults } from './defaults.js';
import { NOT_CHECKED, blocksCel, type FieldError } from './errors.js';
import { checkMetadata } from './metadata.js';
import { isObject, type SchemaNode } from './schema-node.js';
import { validateStructure } from './structural.js';

export type ManifestResult =
  | { readonly ok: true; readonly kind: PolicyKind; readonly policy: Policy; readonly errors: readonly FieldError[] }
  | {
      readonly ok: false;
      readonly kind: PolicyKind | undefined;
      readonly namespace: string | undefined;
      readonly name: string | undefined;
      readonly errors: readonly FieldError[];
    };

export interface ManifestOptions {
  /** Namespace of an object without one; `default`, like kubectl without `-n`. */
  readonly defaultNamespace?: string;
}

const specSchemas = new Map<string, SchemaNode>(KINDS.map((k) => [k.kind, plainSchema(k.spec) as SchemaNode]));
const statusSchemas = new Map<string, SchemaNode>(
  KINDS.map((k) => [k.kind, plainSchema('status' in k ? k.status : PolicyStatus) as SchemaNode]),
);
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** Whether the object claims to be of our API group (whatever its kind or version). */
export function isPolicyManifest(obj: unknown): boolean {
  return isObject(obj) && typeof obj.apiVersion === 'string' && obj.apiVersion.split('/')[0] === GROUP;
}

/** Validates one manifest of the policy kinds; on success returns it with every default applied. */
export function validateManifest(obj: unknown, options: ManifestOptions = {}): ManifestResult {
  const errors: FieldError[] = [];
  const fail = (kind: PolicyKind | undefined, meta?: Record<string, unknown>): ManifestResult => ({
    ok: false,
    kind,
    namespace: typeof meta?.namespace === 'string' ? meta.namespace : undefined,
    name: typeof meta?.name === 'string' ? meta.name : undefined,
    errors,
  });
  if (!isObject(obj)) {
    errors.push({ path: '', type: 'Invalid value', message: 'Invalid value: a manifest must be an object' });
    return fail(undefined);
  }
  if (obj.apiVersion !== API_VERSION)
    errors.push({
      path: 'apiVersion',
      type: 'Unsupported value',
      message: `Unsupported value: ${JSON.stringify(obj.apiVersion)}: supported values: "${API_VERSION}"`,
    });
  const spec = specSchemas.get(typeof obj.kind === 'string' ? obj.kind : '');
  const kind = spec ? (obj.kind as PolicyKind) : undefined;
  if (!spec)
    errors.push({
      path: 'kind',
      type: 'Unsupported value',
      message: `Unsupported value: ${JSON.stringify(obj.kind)}: supported values: ${KINDS.map((k) => `"${k.kind}"`).join(', ')}`,
    });
  const metadata = checkMetadata(obj.metadata, options.defaultNamespace ?? 'default', errors);
  for (const key of Object.keys(obj))
    if (!TOP_LEVEL.has(key)) errors.push({ path: key, type: 'Unknown field', message: `unknown field "${key}"` });
  if (!spec) return fail(kind, metadata);

  const copy = structuredClone(obj);
  copy.metadata = metadata;
  if (copy.spec === undefined) errors.push({ path: 'spec', type: 'Required value', message: 'Required value' });
  else {
    applyDefaults(copy.spec, spec);
    validateStructure(copy.spec, spec, 'spec', errors);
  }
  // The object the apiserver validates: metadata and spec (a wrong apiVersion never gets there).
  if (errors.some((e) => blocksCel(e) && /^(spec|metadata)\b/.test(e.path))) errors.push(NOT_CHECKED);
  else validateCel(copy.spec, spec, 'spec', errors);
  if (copy.status !== undefined) validateStructure(copy.status, statusSchemas.get(kind!)!, 'status', errors);
  if (errors.length > 0) return fail(kind, metadata);
  return { ok: true, kind: kind!, policy: copy as unknown as Policy, errors };
}
