/** The policy kinds of stability.jarvis.io/v1alpha1: the single source of the CRDs and the types. */
import type { TObject } from '@sinclair/typebox';
import { withDefaultsAndOverrides, type Strategy } from './attachment.js';
import type { Static } from './builders.js';
import { CachePolicySpec } from './cache.js';
import { CircuitBreakerPolicySpec } from './circuitbreaker.js';
import type { PolicyStatus } from './common.js';
import { DegradationPolicySpec } from './degradation.js';
import { ClientIdentityPolicySpec, IdentityPolicyStatus } from './identity.js';
import { QueuePolicySpec } from './queue.js';
import { RateLimitPolicySpec } from './ratelimit.js';

export const GROUP = 'stability.jarvis.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/**
 * The sentence that marks a kind the apiserver and the operator accept but no gateway enforces
 * yet. The CRD, docs/crd-reference.md, README.md, docs/policy-attachment.md, the examples and
 * `jarvis-policy --help` carry it word for word, once per kind and place: when a gateway starts
 * enforcing a kind, set its `enforced` below and remove the sentence where it names that kind
 * (`grep -rn "not yet enforced"`).
 */
export const NOT_ENFORCED = 'Accepted, not yet enforced by the gateway (status shows Enforced=False, reason Unsupported).';

export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** One line for the CRD and the reference, in the present tense only for what a gateway does. */
  readonly summary: string;
  /**
   * Whether the gateway enforces this kind. When false, the generated CRD and reference add
   * NOT_ENFORCED to the kind's description, its spec's and every spec field's but targetRefs.
   */
  readonly enforced: boolean;
  /**
   * The kind's spec as written before GEP-713 sections: targetRefs and the settings. The
   * translator works on this shape, whichever form a policy uses.
   */
  readonly settings: TObject;
  /** Strategy of the top-level form, and the default `strategy` of defaults and overrides. */
  readonly strategy: Strategy;
  /** The CRD's spec: the settings at the top level, or under defaults or overrides (attachment.ts). */
  readonly spec: TObject;
  /** The status schema, when the kind has conditions besides Accepted and Enforced (default: PolicyStatus). */
  readonly status?: TObject;
}

/** What Merge means for the kinds merged generically (translate/sections.ts). */
const GENERIC_MERGE =
  'each list keyed by name merges by name (the higher-precedence entry wins), each optional setting without a default comes whole from the highest-precedence policy that has it, and every other setting comes with the highest-precedence policy.';

function kind<const K extends string>(
  def: Omit<KindDefinition, 'spec' | 'kind'> & { readonly kind: K; readonly merge: string },
): KindDefinition & { readonly kind: K } {
  const { merge, ...rest } = def;
  return { ...rest, spec: withDefaultsAndOverrides(def.settings, { strategy: def.strategy, merge }) };
}

export const KINDS = [
  kind({
    kind: 'RateLimitPolicy',
    plural: 'ratelimitpolicies',
    singular: 'ratelimitpolicy',
    shortNames: ['rlp'],
    summary:
      'RateLimitPolicy limits requests at several levels at once (global, route, service, client IP, user, tenant, custom keys), with per-tenant quotas and hot-key protection.',
    enforced: true,
    settings: RateLimitPolicySpec,
    strategy: 'Merge',
    merge:
      "limits merge by name (each name from the highest-precedence policy that has it, with that policy's mode); hotspot comes whole from the highest-precedence policy that has one; store and failureMode come from the most specific policy, but never looser than an override's (Memory is looser than Redis; Open than Local, Local than Closed, and Local over fewer expectedReplicas than over more).",
  }),
  kind({
    kind: 'QueuePolicy',
    plural: 'queuepolicies',
    singular: 'queuepolicy',
    shortNames: ['qpol'],
    summary:
      'QueuePolicy bounds in-flight requests (a fixed limit, or one found from latency) and queues the rest by priority class and per-tenant fairness, with deadlines, asynchronous jobs with retries and a dead-letter queue.',
    enforced: true,
    settings: QueuePolicySpec,
    strategy: 'Atomic',
    merge: GENERIC_MERGE,
  }),
  kind({
    kind: 'CircuitBreakerPolicy',
    plural: 'circuitbreakerpolicies',
    singular: 'circuitbreakerpolicy',
    shortNames: ['cbp'],
    summary:
      'CircuitBreakerPolicy protects backends with circuit breakers, retries within a budget, passive outlier detection and active health checks, switching traffic away from failing pods.',
    enforced: true,
    settings: CircuitBreakerPolicySpec,
    strategy: 'Atomic',
    merge: GENERIC_MERGE,
  }),
  kind({
    kind: 'DegradationPolicy',
    plural: 'degradationpolicies',
    singular: 'degradationpolicy',
    shortNames: ['dgp'],
    summary:
      "DegradationPolicy switches to fallback chains (LLM model tiers with a model rewrite, RAG retrievers ending in a static answer) when a step fails, and while load triggers hold (with hysteresis) switches non-core features off and sheds low priority classes of the route's queue.",
    enforced: true,
    settings: DegradationPolicySpec,
    strategy: 'Atomic',
    merge: GENERIC_MERGE,
  }),
  kind({
    kind: 'CachePolicy',
    plural: 'cachepolicies',
    singular: 'cachepolicy',
    shortNames: ['cpol'],
    summary:
      'CachePolicy is a response cache in a bounded in-process LRU and Redis, with invalidation by key, tag and version, request coalescing and stale-while-revalidate / stale-if-error.',
    enforced: true,
    settings: CachePolicySpec,
    strategy: 'Atomic',
    merge: GENERIC_MERGE,
  }),
  {
    kind: 'ClientIdentityPolicy',
    plural: 'clientidentitypolicies',
    singular: 'clientidentitypolicy',
    shortNames: ['cip'],
    summary:
      'ClientIdentityPolicy says who is calling a Gateway: JWT issuers with keys from a Secret or a JWKS URL, API keys from labelled Secrets (the gateways receive only their hashes), the trusted proxies whose forwarding and identity headers are believed, and the IPv6 prefix client addresses are counted by.',
    enforced: true,
    // Gateway-wide, on Gateways only: no defaults or overrides (one policy per Gateway).
    settings: ClientIdentityPolicySpec,
    strategy: 'Atomic',
    spec: ClientIdentityPolicySpec,
    status: IdentityPolicyStatus,
  },
] as const satisfies readonly KindDefinition[];

export type PolicyKind = (typeof KINDS)[number]['kind'];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Resource<K extends PolicyKind, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: PolicyStatus;
}

export type RateLimitPolicy = Resource<'RateLimitPolicy', Static<typeof RateLimitPolicySpec>>;
export type QueuePolicy = Resource<'QueuePolicy', Static<typeof QueuePolicySpec>>;
export type CircuitBreakerPolicy = Resource<'CircuitBreakerPolicy', Static<typeof CircuitBreakerPolicySpec>>;
export type DegradationPolicy = Resource<'DegradationPolicy', Static<typeof DegradationPolicySpec>>;
export type CachePolicy = Resource<'CachePolicy', Static<typeof CachePolicySpec>>;
export type ClientIdentityPolicy = Resource<'ClientIdentityPolicy', Static<typeof ClientIdentityPolicySpec>>;
export type Policy = RateLimitPolicy | QueuePolicy | CircuitBreakerPolicy | DegradationPolicy | CachePolicy | ClientIdentityPolicy;

export function kindDefinition(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}
