/**
 * Schema defaulting as the apiserver does it (structural defaulting): top-down, a missing (or
 * null, non-nullable) property with a default gets a deep copy of the default, and the walk then
 * continues into every property, defaulted ones included — so a defaulted object gets the
 * defaults of its own properties as well. Mutates `value`.
 */
import { isObject, mapValues, type SchemaNode } from './schema-node.js';

export function applyDefaults(value: unknown, node: SchemaNode): void {
  if (Array.isArray(value)) {
    if (node.items) for (const item of value) applyDefaults(item, node.items);
    return;
  }
  if (!isObject(value)) return;
  const properties = node.properties ?? {};
  for (const [name, prop] of Object.entries(properties)) {
    if (prop.default === undefined) continue;
    if (!(name in value) || (value[name] === null && !prop.nullable)) value[name] = structuredClone(prop.default);
  }
  const additional = mapValues(node);
  for (const [name, child] of Object.entries(value)) {
    const prop = properties[name] ?? additional;
    if (prop) applyDefaults(child, prop);
  }
}
