/**
 * Checks untrusted JSON (from xDS or a file) before a gateway uses it as IR: structure with the
 * IR's TypeBox schemas, then the invariants of invariants.ts.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { backendInvariants, gatewayInvariants, irInvariants } from './invariants.js';
import { BackendIR, GatewayIR, IR } from './types.js';

export type Checked<K extends string, T> =
  ({ readonly ok: true } & { readonly [P in K]: T }) | { readonly ok: false; readonly errors: readonly string[] };

const compiled = new Map<TSchema, TypeCheck<TSchema>>();

function structure(schema: TSchema, value: unknown, root: string): string[] {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) return [];
  const errors: string[] = [];
  for (const e of check.Errors(value)) {
    const path = e.path
      .split('/')
      .slice(1)
      .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`))
      .join('');
    errors.push(`${root}${path}: ${e.message}`);
    if (errors.length >= 20) break;
  }
  return errors;
}

/** A whole config. */
export function validateIR(value: unknown): Checked<'ir', IR> {
  const errors = structure(IR, value, 'ir');
  if (errors.length > 0) return { ok: false, errors };
  const ir = value as IR;
  const semantic = irInvariants(ir);
  return semantic.length > 0 ? { ok: false, errors: semantic } : { ok: true, ir };
}

/** One GatewayIR resource on its own (the backends it names are checked when the config is assembled). */
export function validateGatewayResource(value: unknown): Checked<'gateway', GatewayIR> {
  const errors = structure(GatewayIR, value, 'gateway');
  if (errors.length > 0) return { ok: false, errors };
  const gateway = value as GatewayIR;
  const semantic = gatewayInvariants(gateway);
  return semantic.length > 0 ? { ok: false, errors: semantic } : { ok: true, gateway };
}

/** One BackendIR resource on its own. */
export function validateBackendResource(value: unknown): Checked<'backend', BackendIR> {
  const errors = structure(BackendIR, value, 'backend');
  if (errors.length > 0) return { ok: false, errors };
  const backend = value as BackendIR;
  const semantic = backendInvariants(backend);
  return semantic.length > 0 ? { ok: false, errors: semantic } : { ok: true, backend };
}
