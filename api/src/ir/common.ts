/** Building blocks shared by every part of the IR schema. */
import { Type, type TLiteral, type TUnion } from '@sinclair/typebox';
import { KINDS } from '../schema/kinds.js';

/** Deeply read-only view of a value: what every consumer of the IR gets. */
export type Immutable<T> = T extends readonly (infer U)[]
  ? readonly Immutable<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Immutable<T[K]> }
    : T;

/** A union of string literals (the IR is not a CRD: unions are fine here). */
export function literals<const V extends readonly string[]>(values: V): TUnion<TLiteral<V[number]>[]> {
  return Type.Union(values.map((v) => Type.Literal(v)));
}

/** Milliseconds: finite and never negative. */
export const Millis = Type.Number({ minimum: 0 });
/** A non-negative integer count. */
export const Count = Type.Integer({ minimum: 0 });
/** A positive integer count. */
export const Positive = Type.Integer({ minimum: 1 });
/** A TCP port. */
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** An HTTP status code. */
export const StatusCode = Type.Integer({ minimum: 100, maximum: 599 });
/** A non-empty string. */
export const Name = Type.String({ minLength: 1 });

export const POLICY_KINDS = KINDS.map((k) => k.kind);

/** A policy whose (compiled) content is part of a config, at the generation that was compiled. */
export const PolicyRef = Type.Object({
  /** One of the policy kinds. */
  kind: literals([
    'RateLimitPolicy',
    'QueuePolicy',
    'CircuitBreakerPolicy',
    'DegradationPolicy',
    'CachePolicy',
    'ClientIdentityPolicy',
  ] as const),
  namespace: Name,
  name: Name,
  /** metadata.generation of the compiled object; 0 when it had none (a file in standalone mode). */
  generation: Count,
});
