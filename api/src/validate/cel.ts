/**
 * The CRDs' CEL rules (`x-kubernetes-validations`) evaluated offline with @bufbuild/cel, the way
 * the apiserver evaluates them: `self` is the value at the rule's node (integers as CEL int,
 * objects as maps), and a failing rule is reported at the node's path plus the rule's fieldPath.
 * Rules of a node whose subtree already has structural errors (other than unknown fields, which
 * the apiserver prunes) are skipped, since their input is not what the rule was written for.
 */
import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import type { CelRule } from '../schema/builders.js';
import { isWithin, quote, type FieldError, type FieldErrorType } from './errors.js';
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

/** `self` is `value` converted for CEL (once per node, shared by its rules). */
function evaluate(rule: CelRule, value: unknown, self: CelInput, path: string, out: FieldError[]): void {
  const target = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
  const p = program(rule.rule);
  const result = p instanceof Error ? p : p({ self });
  if (result === true) return;
  if (result instanceof Error || isCelError(result) || result !== false) {
    const why = result instanceof Error ? result.message : `result is not a bool`;
    out.push({ path, type: 'Invalid value', message: `Invalid value: ${quote(value)}: rule ${rule.rule} could not be evaluated: ${why}` });
    return;
  }
  const type = REASON_TYPE[rule.reason ?? 'FieldValueInvalid'];
  const message = type === 'Invalid value' ? `Invalid value: ${quote(value)}: ${rule.message}` : `${type}: ${rule.message}`;
  out.push({ path: target, type, message });
}

/**
 * Appends the failures of every CEL rule under `node` to `out`, skipping subtrees that have an
 * error in `structural`.
 */
export function validateCel(value: unknown, node: SchemaNode, path: string, structural: readonly FieldError[], out: FieldError[]): void {
  if (value === undefined || value === null) return;
  if (structural.some((e) => e.type !== 'Unknown field' && isWithin(e.path, path))) {
    // Rules deeper down may still see valid input.
    walkChildren(value, node, path, structural, out);
    return;
  }
  const rules = node['x-kubernetes-validations'] ?? [];
  if (rules.length > 0) {
    const self = toCel(value, node);
    for (const rule of rules) evaluate(rule, value, self, path, out);
  }
  walkChildren(value, node, path, structural, out);
}

function walkChildren(value: unknown, node: SchemaNode, path: string, structural: readonly FieldError[], out: FieldError[]): void {
  if (Array.isArray(value)) {
    if (node.items) value.forEach((item, i) => validateCel(item, node.items!, `${path}[${i}]`, structural, out));
    return;
  }
  if (!isObject(value)) return;
  const additional = mapValues(node);
  for (const [name, child] of Object.entries(value)) {
    const prop = node.properties?.[name] ?? additional;
    if (prop) validateCel(child, prop, childPath(path, name), structural, out);
  }
}
