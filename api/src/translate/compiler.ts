/** Compiles each accepted policy once, whatever the number of routes or backends it applies to. */
import type { CacheIR, CircuitBreakerIR, DegradationIR, QueueIR } from '../ir/types.js';
import type {
  CachePolicy,
  CircuitBreakerPolicy,
  ClientIdentityPolicy,
  DegradationPolicy,
  QueuePolicy,
  RateLimitPolicy,
} from '../schema/kinds.js';
import { resolveServicePort } from './backendref.js';
import { key, type Catalog } from './catalog.js';
import { compareStrings } from '../ir/order.js';
import { compileCache } from './compile/cache.js';
import { compileCircuitBreaker } from './compile/circuitbreaker.js';
import { compileDegradation } from './compile/degradation.js';
import { compileIdentity, type CompiledIdentity } from './compile/identity.js';
import { compileQueue } from './compile/queue.js';
import { compileRateLimit, type CompiledRateLimit } from './compile/ratelimit.js';
import type { ServicePortModel } from './model.js';
import { mergeSettings } from './merge-settings.js';
import type { Attached } from './policies.js';

export interface Compiler {
  rateLimit(a: Attached): CompiledRateLimit;
  queue(a: Attached): QueueIR;
  degradation(a: Attached): DegradationIR;
  cache(a: Attached): CacheIR;
  circuitBreaker(a: Attached): CircuitBreakerIR;
  /** A ClientIdentityPolicy with the keys of its Secrets. */
  identity(a: Attached): CompiledIdentity;
  /** The Service ports a DegradationPolicy's fallback chain uses. */
  fallbackBackends(a: Attached): readonly FallbackBackend[];
  /**
   * The settings of the policies that take effect (highest precedence first, one kind other than
   * RateLimitPolicy) as one policy to compile: the policy itself when there is one, else their
   * merge (merge-settings.ts), the same object for the same policies; `used`: those that gave
   * something.
   */
  combined(effective: readonly Attached[]): { readonly a: Attached; readonly used: readonly Attached[] } | undefined;
}

export interface FallbackBackend {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: ServicePortModel;
}

function memo<T>(compile: (a: Attached) => T): (a: Attached) => T {
  const done = new Map<Attached, T>();
  return (a) => {
    let v = done.get(a);
    if (v === undefined) {
      v = compile(a);
      done.set(a, v);
    }
    return v;
  };
}

/** The namespace of the policy a setting came from (merged settings: merge-settings.ts). */
const namespaceOf = (a: Attached, setting: string): string => (a.origins?.get(setting) ?? a).model.meta.namespace;

export function compiler(cat: Catalog): Compiler {
  const merged = new Map<string, { a: Attached; used: readonly Attached[] }>();
  return {
    combined(effective) {
      const first = effective[0];
      if (!first) return undefined;
      if (effective.length === 1) return { a: first, used: [first] };
      const k = effective.map((e) => `${e.ref.kind}/${e.ref.namespace}/${e.ref.name}`).join('\n');
      let m = merged.get(k);
      if (!m) {
        const { spec, origins, used } = mergeSettings(effective);
        const policy = { ...first.model.policy, spec } as typeof first.model.policy;
        m = { a: { ...first, model: { ...first.model, policy }, origins }, used };
        merged.set(k, m);
      }
      return m;
    },
    fallbackBackends: memo((a) => {
      const out: FallbackBackend[] = [];
      if (a.model.policy.kind !== 'DegradationPolicy') return out;
      const namespace = namespaceOf(a, 'fallback');
      for (const step of a.model.policy.spec.fallback?.chain ?? []) {
        if (!step.backendRef) continue;
        const res = resolveServicePort(cat, namespace, step.backendRef.name, step.backendRef.port);
        if (res.ok) out.push({ id: res.id, namespace, service: step.backendRef.name, port: res.port });
      }
      return out;
    }),
    rateLimit: memo((a) => compileRateLimit(a.model.policy as RateLimitPolicy, a.ref)),
    queue: memo((a) => compileQueue(a.model.policy as QueuePolicy, a.ref)),
    cache: memo((a) => compileCache(a.model.policy as CachePolicy, a.ref)),
    circuitBreaker: memo((a) => compileCircuitBreaker(a.model.policy as CircuitBreakerPolicy, a.ref)),
    identity: memo((a) => {
      const namespace = a.model.meta.namespace;
      return compileIdentity((a.model.policy as ClientIdentityPolicy).spec, a.ref, {
        secrets: {
          get: (name) => cat.secrets.get(key(namespace, name)),
          select: (labels) =>
            [...cat.secrets.values()]
              .filter((s) => s.meta.namespace === namespace && Object.entries(labels).every(([k, v]) => s.meta.labels[k] === v))
              .sort((x, y) => compareStrings(x.meta.name, y.meta.name)),
        },
      });
    }),
    degradation: memo((a) =>
      compileDegradation(a.model.policy as DegradationPolicy, a.ref, (ref) => {
        const res = resolveServicePort(cat, namespaceOf(a, 'fallback'), ref.name, ref.port);
        return res.ok ? res.id : undefined;
      }),
    ),
  };
}
