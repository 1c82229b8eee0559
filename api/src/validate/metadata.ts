/**
 * Checks of `metadata` that the apiserver makes for every object: a name that is a DNS subdomain,
 * a namespace that is a DNS label, string labels and annotations, no unknown fields (kubectl's
 * strict field validation). The namespace defaults like `kubectl apply` without `-n`.
 */
import { DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN } from '../schema/builders.js';
import { quote, type FieldError } from './errors.js';
import { isObject, type JsonObject } from './schema-node.js';

const KNOWN = new Set([
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
]);

const SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);
const LABEL = new RegExp(DNS_LABEL_PATTERN);

/** Checks `metadata` and fills in the namespace; returns the (copied) metadata. */
export function checkMetadata(metadata: unknown, defaultNamespace: string, out: FieldError[]): JsonObject {
  if (!isObject(metadata)) {
    out.push({
      path: 'metadata',
      type: metadata === undefined ? 'Required value' : 'Invalid value',
      message: metadata === undefined ? 'Required value' : `Invalid value: ${quote(metadata)}: must be of type object`,
    });
    return { namespace: defaultNamespace };
  }
  const meta: JsonObject = { ...metadata };
  const { name } = meta;
  if (name === undefined)
    out.push({ path: 'metadata.name', type: 'Required value', message: 'Required value: name or generateName is required' });
  else if (typeof name !== 'string' || name.length > 253 || !SUBDOMAIN.test(name))
    out.push({
      path: 'metadata.name',
      type: 'Invalid value',
      message: `Invalid value: ${quote(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  if (meta.namespace === undefined || meta.namespace === '') meta.namespace = defaultNamespace;
  else if (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !LABEL.test(meta.namespace))
    out.push({
      path: 'metadata.namespace',
      type: 'Invalid value',
      message: `Invalid value: ${quote(meta.namespace)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
    });
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined) continue;
    if (!isObject(map))
      out.push({ path: `metadata.${field}`, type: 'Invalid value', message: `Invalid value: ${quote(map)}: must be of type object` });
    else
      for (const [k, v] of Object.entries(map))
        if (typeof v !== 'string')
          out.push({
            path: `metadata.${field}[${k}]`,
            type: 'Invalid value',
            message: `Invalid value: ${quote(v)}: must be of type string`,
          });
  }
  if (meta.generation !== undefined && !(typeof meta.generation === 'number' && Number.isInteger(meta.generation) && meta.generation >= 0))
    out.push({
      path: 'metadata.generation',
      type: 'Invalid value',
      message: `Invalid value: ${quote(meta.generation)}: must be a non-negative integer`,
    });
  for (const key of Object.keys(meta))
    if (!KNOWN.has(key)) out.push({ path: `metadata.${key}`, type: 'Unknown field', message: `unknown field "metadata.${key}"` });
  return meta;
}
