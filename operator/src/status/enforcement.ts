/**
 * Which policy generations each gateway enforces. Every snapshot version the operator pushes is
 * recorded with the policies it contains; a gateway enforces the policies of the versions it has
 * ACKed. `Enforced` is True only when every connected gateway that should carry the policy has
 * ACKed a version with this generation (or a newer one) **and** announces (xDS node
 * client_features) every feature the policy needs; a gateway that lacks one makes it
 * `Unsupported`, naming the gateway and the feature. A policy that applies to routes but whose
 * every part is replaced there by policies that take precedence (more specific defaults, or
 * overrides) is `Overridden`.
 */
import type { PolicyRef } from '@jarvis/api';

export interface GatewayView {
  readonly nodeId: string;
  readonly group: string;
  /** Last ACKed version per type URL. */
  readonly acked: Readonly<Record<string, string>>;
  /** Last NACK per type URL, if the gateway has not ACKed a later version of that type since. */
  readonly nacked: Readonly<Record<string, { readonly version: string; readonly message: string }>>;
  /** The features the gateway announced (api/src/features.ts). */
  readonly features: ReadonlySet<string>;
}

/** What a policy needs besides being ACKed. */
export interface EnforcementNeeds {
  /** Feature strings every gateway serving the policy must announce. */
  readonly features: readonly string[];
  /** The policies (`Kind namespace/name`, `(overrides, Atomic|Merge)` for an override) that replace all of this one where it applies. */
  readonly overriddenBy?: readonly string[];
}

export interface EnforcedCondition {
  readonly status: boolean;
  readonly reason: 'Enforced' | 'Pending' | 'NotEnforced' | 'Unsupported' | 'Overridden';
  readonly message: string;
}

const policyKey = (r: Pick<PolicyRef, 'kind' | 'namespace' | 'name'>) => `${r.kind}/${r.namespace}/${r.name}`;

/** Bounded history of the versions of one (group, type). */
const VERSIONS_KEPT = 32;

export class EnforcementTracker {
  /** group → typeUrl → version → policy key → generation (insertion-ordered, oldest first). */
  readonly #history = new Map<string, Map<string, Map<string, Map<string, number>>>>();
  /** group → typeUrl → current version. */
  readonly #current = new Map<string, Map<string, string>>();

  /** Records the version of one type of a group's snapshot and the policies it contains. */
  record(group: string, typeUrl: string, version: string, policies: readonly PolicyRef[]): void {
    const byType = this.#history.get(group) ?? new Map<string, Map<string, Map<string, number>>>();
    this.#history.set(group, byType);
    const versions = byType.get(typeUrl) ?? new Map<string, Map<string, number>>();
    byType.set(typeUrl, versions);
    if (!versions.has(version)) {
      versions.set(version, new Map(policies.map((p) => [policyKey(p), p.generation])));
      while (versions.size > VERSIONS_KEPT) {
        const oldest = versions.keys().next().value;
        if (oldest === undefined) break;
        versions.delete(oldest);
      }
    }
    const current = this.#current.get(group) ?? new Map<string, string>();
    this.#current.set(group, current);
    current.set(typeUrl, version);
  }

  /** The version of one type of a group's current snapshot, if one was recorded. */
  currentVersion(group: string, typeUrl: string): string | undefined {
    return this.#current.get(group)?.get(typeUrl);
  }

  /** Forgets a group that no longer exists. */
  forget(group: string): void {
    this.#history.delete(group);
    this.#current.delete(group);
  }

  /** Groups whose current snapshot contains the policy (any generation). */
  groupsCarrying(ref: Pick<PolicyRef, 'kind' | 'namespace' | 'name'>): string[] {
    const key = policyKey(ref);
    const out: string[] = [];
    for (const [group, types] of this.#current) {
      for (const [typeUrl, version] of types) {
        if (this.#history.get(group)?.get(typeUrl)?.get(version)?.has(key)) {
          out.push(group);
          break;
        }
      }
    }
    return out.sort();
  }

  /** The generation of the policy a gateway enforces through the versions it ACKed, if any. */
  enforcedGeneration(gateway: GatewayView, ref: Pick<PolicyRef, 'kind' | 'namespace' | 'name'>): number | undefined {
    const key = policyKey(ref);
    let generation: number | undefined;
    for (const [typeUrl, version] of Object.entries(gateway.acked)) {
      const g = this.#history.get(gateway.group)?.get(typeUrl)?.get(version)?.get(key);
      if (g !== undefined) generation = Math.max(generation ?? 0, g);
    }
    return generation;
  }

  /** Whether a NACKed version of the gateway contained the policy. */
  #nackFor(gateway: GatewayView, key: string): string | undefined {
    for (const [typeUrl, nack] of Object.entries(gateway.nacked)) {
      if (this.#history.get(gateway.group)?.get(typeUrl)?.get(nack.version)?.has(key)) return nack.message;
    }
    return undefined;
  }

  enforced(ref: PolicyRef, gateways: readonly GatewayView[], needs: EnforcementNeeds = { features: [] }): EnforcedCondition {
    const groups = this.groupsCarrying(ref);
    if (groups.length === 0) {
      if (needs.overriddenBy && needs.overriddenBy.length > 0)
        return {
          status: false,
          reason: 'Overridden',
          message:
            `Everything this policy sets is replaced, wherever it applies, by policies that take precedence: ${needs.overriddenBy.join(', ')}.`.slice(
              0,
              4096,
            ),
        };
      return { status: false, reason: 'NotEnforced', message: 'No route of a gateway of our class uses the targets of this policy.' };
    }
    const relevant = gateways.filter((g) => groups.includes(g.group));
    if (relevant.length === 0) return { status: false, reason: 'Pending', message: `No gateway of ${groups.join(', ')} is connected.` };
    const key = policyKey(ref);
    const unsupported: string[] = [];
    const rejected: string[] = [];
    const waiting: string[] = [];
    for (const gw of relevant) {
      const missing = needs.features.filter((f) => !gw.features.has(f));
      if (missing.length > 0) {
        unsupported.push(`${gw.nodeId} (gateway ${gw.group}) does not enforce ${missing.join(', ')}`);
        continue;
      }
      const generation = this.enforcedGeneration(gw, ref);
      if (generation !== undefined && generation >= ref.generation) continue;
      const nack = this.#nackFor(gw, key);
      if (nack !== undefined) rejected.push(`${gw.nodeId} (${nack})`);
      else waiting.push(gw.nodeId);
    }
    if (unsupported.length > 0)
      return { status: false, reason: 'Unsupported', message: `Not enforced: ${unsupported.sort().join('; ')}.`.slice(0, 4096) };
    if (rejected.length > 0)
      return { status: false, reason: 'NotEnforced', message: `Rejected by gateways: ${rejected.sort().join('; ')}`.slice(0, 4096) };
    if (waiting.length > 0)
      return {
        status: false,
        reason: 'Pending',
        message: `Waiting for gateways to acknowledge: ${waiting.sort().join(', ')}`.slice(0, 4096),
      };
    return { status: true, reason: 'Enforced', message: `Enforced by ${relevant.length} gateway(s).` };
  }
}
