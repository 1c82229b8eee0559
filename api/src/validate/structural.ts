/**
 * Structural validation of a value against a CRD's structural schema, reporting what the
 * apiserver reports (OpenAPI value validation, list-type uniqueness) and what kubectl's strict
 * field validation rejects (fields the schema does not declare). CEL rules are in cel.ts.
 */
import { quote, type FieldError } from './errors.js';
import { isObject, mapValues, type SchemaNode } from './schema-node.js';

const patterns = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(pattern);
    patterns.set(pattern, re);
  }
  return re;
}

function typeOk(value: unknown, type: SchemaNode['type']): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

/** Apiserver field-path segment for an object key. */
export function childPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${key}]`;
}

function scalars(value: unknown, node: SchemaNode, path: string, out: FieldError[]): void {
  if (node.enum && !node.enum.some((e) => e === value)) {
    out.push({
      path,
      type: 'Unsupported value',
      message: `Unsupported value: ${quote(value)}: supported values: ${node.enum.map((e) => JSON.stringify(e)).join(', ')}`,
    });
    return;
  }
  if (typeof value === 'number') {
    if (node.minimum !== undefined && value < node.minimum)
      out.push({ path, type: 'Invalid value', message: `Invalid value: ${value}: should be greater than or equal to ${node.minimum}` });
    if (node.maximum !== undefined && value > node.maximum)
      out.push({ path, type: 'Invalid value', message: `Invalid value: ${value}: should be less than or equal to ${node.maximum}` });
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (node.maxLength !== undefined && length > node.maxLength)
      out.push({ path, type: 'Too long', message: `Too long: may not be more than ${node.maxLength} bytes` });
    if (node.minLength !== undefined && length < node.minLength)
      out.push({ path, type: 'Invalid value', message: `Invalid value: ${quote(value)}: should be at least ${node.minLength} chars long` });
    if (node.pattern !== undefined && !regex(node.pattern).test(value))
      out.push({ path, type: 'Invalid value', message: `Invalid value: ${quote(value)}: should match '${node.pattern}'` });
  }
}

/**
 * The identity of a list item for uniqueness: list-map keys and set items are scalars in a
 * structural schema, so only scalars are compared (as the apiserver does); anything else is
 * unique here and gets its type error from the item schema. Never stringifies a collection, which
 * could be large (or, before the YAML edge bounded aliases, exponentially large).
 */
function scalarKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return `s${value}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value}${String(value)}`;
  return undefined;
}

function listItems(value: readonly unknown[], node: SchemaNode, path: string, out: FieldError[]): void {
  if (node.maxItems !== undefined && value.length > node.maxItems)
    out.push({ path, type: 'Too many', message: `Too many: ${value.length}: must have at most ${node.maxItems} items` });
  if (node.minItems !== undefined && value.length < node.minItems)
    out.push({ path, type: 'Invalid value', message: `Invalid value: ${value.length}: should have at least ${node.minItems} items` });
  const listType = node['x-kubernetes-list-type'];
  const keys = node['x-kubernetes-list-map-keys'];
  if (listType === 'set' || (listType === 'map' && keys)) {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const parts = listType === 'set' ? [scalarKey(item)] : keys!.map((k) => scalarKey(isObject(item) ? item[k] : undefined));
      if (parts.some((p) => p === undefined)) return;
      const key = JSON.stringify(parts);
      if (seen.has(key)) {
        const shown =
          listType === 'set'
            ? JSON.stringify(item)
            : JSON.stringify(Object.fromEntries(keys!.map((k) => [k, isObject(item) ? item[k] : null])));
        out.push({ path: `${path}[${i}]`, type: 'Duplicate value', message: `Duplicate value: ${shown}` });
      }
      seen.add(key);
    });
  }
  if (node.items) value.forEach((item, i) => validateStructure(item, node.items!, `${path}[${i}]`, out));
}

/** Appends every structural problem of `value` (at `path`) to `out`. */
export function validateStructure(value: unknown, node: SchemaNode, path: string, out: FieldError[]): void {
  if (!typeOk(value, node.type)) {
    out.push({ path, type: 'Invalid value', message: `Invalid value: ${quote(value)}: must be of type ${node.type ?? 'unknown'}` });
    return;
  }
  if (Array.isArray(value)) {
    listItems(value, node, path, out);
    return;
  }
  if (!isObject(value)) {
    scalars(value, node, path, out);
    return;
  }
  const properties = node.properties;
  const additional = mapValues(node);
  if (node.maxProperties !== undefined && Object.keys(value).length > node.maxProperties)
    out.push({ path, type: 'Too many', message: `Too many: ${Object.keys(value).length}: must have at most ${node.maxProperties} items` });
  for (const name of node.required ?? [])
    if (value[name] === undefined) out.push({ path: childPath(path, name), type: 'Required value', message: 'Required value' });
  for (const [name, child] of Object.entries(value)) {
    const prop = properties?.[name] ?? additional;
    if (prop) validateStructure(child, prop, childPath(path, name), out);
    else if (properties || node.additionalProperties === false)
      out.push({ path: childPath(path, name), type: 'Unknown field', message: `unknown field "${childPath(path, name)}"` });
  }
}
