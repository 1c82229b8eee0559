/**
 * The CRDs' CEL rules (`x-kubernetes-validations`) evaluated offline with @bufbuild/cel, the way
 * the apiserver evaluates them: `self` is the value at the rule's node (integers as CEL int,
 * objects as maps), and a failing rule is reported at the node's path plus the rule's fieldPath.
 * Like the apiserver, every rule runs, also where a value failed a pattern or a bound; whether any
 * rule runs at all is decided by the caller (see `blocksCel` in errors.ts).
 */
import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import type { CelRule } from '../schema/builders.js';
import { quote, type FieldError, type FieldErrorType } from './errors.js';
import { isObject, mapValues, type SchemaNode } from './schema-node.js';
import { childPath } from './structural.js';

type Program = (bindings: { self: CelInput }) => CelResult;

const env = celEnv();
const programs = new Map<string, Program | Error>();

function program(rule: string): Program | Error {
  let p = programs.get(rule);
  if (!p) {
    try {
      const planned = plan(env, parse(rule));
      p = (bindings) => planned(bindings);
    } catch (err) {
      p = err instanceof Error ? err : new Error(String(err));
    }
    programs.set(rule, p);
  }
  return p;
}

/** The CEL view of a JSON value under its schema. */
export function toCel(value: unknown, node: SchemaNode | undefined): CelInput {
  if (Array.isArray(value)) return value.map((v) => toCel(v, node?.items));
  if (isObject(value)) {
    const map = new Map<string, CelInput>();
    const additional = node ? mapValues(node) : undefined;
    for (const [k, v] of Object.entries(value)) {
      const child = node?.properties?.[k] ?? additional;
      if (child || !node) map.set(k, toCel(v, child));
    }
    return map;
  }
  if (typeof value === 'number' && node?.type === 'integer' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return null;
}

const REASON_TYPE: Record<NonNullable<CelRule['reason']>, FieldErrorType> = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueForbidden: 'Forbidden',
  FieldValueDuplicate: 'Duplicate value',
};

/**
 * `self` is the node's value converted for CEL (once per node, shared by its rules); `shown` is
 * how the apiserver names it in a message: the schema type of the node, not its value.
 */
function evaluate(rule: CelRule, shown: string, self: CelInput, path: string, out: FieldError[]): void {
  const target = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
  const p = program(rule.rule);
  const result = p instanceof Error ? p : p({ self });
  if (result === true) return;
  if (result instanceof Error || isCelError(result) || result !== false) {
    const why = result instanceof Error ? result.message : `result is not a bool`;
    out.push({ path, type: 'Invalid value', message: `Invalid value: ${shown}: rule ${rule.rule} could not be evaluated: ${why}` });
    return;
  }
  const type = REASON_TYPE[rule.reason ?? 'FieldValueInvalid'];
  // As apiextensions-apiserver's fieldErrorForReason: Duplicate shows the value (its type), not the message.
  const message =
    type === 'Invalid value'
      ? `Invalid value: ${shown}: ${rule.message}`
      : type === 'Duplicate value'
        ? `${type}: ${shown}`
        : `${type}: ${rule.message}`;
  out.push({ path: target, type, message });
}

/** Appends the failures of every CEL rule under `node` to `out`. */
export function validateCel(value: unknown, node: SchemaNode, path: string, out: FieldError[]): void {
  if (value === undefined || value === null) return;
  const rules = node['x-kubernetes-validations'] ?? [];
  if (rules.length > 0) {
    const self = toCel(value, node);
    const shown = node.type ? JSON.stringify(node.type) : quote(value);
    for (const rule of rules) evaluate(rule, shown, self, path, out);
  }
  walkChildren(value, node, path, out);
}

function walkChildren(value: unknown, node: SchemaNode, path: string, out: FieldError[]): void {
  if (Array.isArray(value)) {
    if (node.items) value.forEach((item, i) => validateCel(item, node.items!, `${path}[${i}]`, out));
    return;
  }
  if (!isObject(value)) return;
  const additional = mapValues(node);
  for (const [name, child] of Object.entries(value)) {
    const prop = node.properties?.[name] ?? additional;
    if (prop) validateCel(child, prop, childPath(path, name), out);
  }
}
