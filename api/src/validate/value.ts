/**
 * One reader from unknown to typed, for documents that are not Kubernetes objects but follow one
 * of our schemas (a gateway's `--identity` file): the apiserver's defaulting, structural checks and
 * CEL rules, exactly as a manifest gets them, with field paths relative to the document.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { plainSchema } from '../crd/render.js';
import { validateCel } from './cel.js';
import { applyDefaults } from './defaults.js';
import { NOT_CHECKED, blocksCel, type FieldError } from './errors.js';
import type { SchemaNode } from './schema-node.js';
import { validateStructure } from './structural.js';

export type ValueResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly FieldError[] };

const ROOT = '$';

/** `$.a.b` → `a.b`, `$` → `` (the document itself). */
const relative = (path: string) => (path === ROOT ? '' : path.startsWith(`${ROOT}.`) ? path.slice(2) : path.slice(1));

/** Validates (a defaulted copy of) `value` against `schema`; on success returns the copy, typed. */
export function validateValue<S extends TSchema>(schema: S, value: unknown): ValueResult<Static<S>> {
  const node = plainSchema(schema) as SchemaNode;
  const copy = structuredClone(value);
  const errors: FieldError[] = [];
  applyDefaults(copy, node);
  validateStructure(copy, node, ROOT, errors);
  if (errors.some(blocksCel)) errors.push(NOT_CHECKED);
  else validateCel(copy, node, ROOT, errors);
  if (errors.length > 0)
    return { ok: false, errors: errors.map((e) => ({ ...e, path: relative(e.path), message: e.message.replaceAll(`"${ROOT}.`, '"') })) };
  return { ok: true, value: copy as Static<S> };
}
