/**
 * Merging the settings of several policies of a kind other than RateLimitPolicy (strategy Merge,
 * strategy.ts), read from the kind's schema so that it follows the schema as it grows:
 *
 * - a list keyed by name (`x-kubernetes-list-type: map`) merges by key: each key from the
 *   highest-precedence policy that has it;
 * - an optional setting without a default comes whole from the highest-precedence policy that
 *   has it;
 * - every other setting (required, or with a default: every policy has it) comes with the
 *   highest-precedence policy.
 *
 * The merged spec compiles like one policy's, as the highest-precedence policy (its name is the
 * compiled settings' source); `origins` says which policy each setting came from, where it
 * matters (a fallback step's Service is in the namespace of the policy that names it).
 */
import type { TObject } from '@sinclair/typebox';
import { kindDefinition, type PolicyKind } from '../schema/kinds.js';
import type { Attached } from './policies.js';

type SettingRule = { readonly merge: 'byKey'; readonly keys: readonly string[] } | { readonly merge: 'whole' } | { readonly merge: 'core' };

interface PlainSetting {
  readonly default?: unknown;
  readonly 'x-kubernetes-list-type'?: string;
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
}

const rulesByKind = new Map<PolicyKind, ReadonlyMap<string, SettingRule>>();

function settingRules(kind: PolicyKind): ReadonlyMap<string, SettingRule> {
  let rules = rulesByKind.get(kind);
  if (!rules) {
    const settings = JSON.parse(JSON.stringify((kindDefinition(kind)?.settings ?? { properties: {} }) as TObject)) as {
      properties: Record<string, PlainSetting>;
      required?: string[];
    };
    const required = new Set(settings.required ?? []);
    const map = new Map<string, SettingRule>();
    for (const [name, s] of Object.entries(settings.properties)) {
      if (name === 'targetRefs') continue;
      if (s['x-kubernetes-list-type'] === 'map' && s['x-kubernetes-list-map-keys'])
        map.set(name, { merge: 'byKey', keys: s['x-kubernetes-list-map-keys'] });
      else if (!required.has(name) && s.default === undefined) map.set(name, { merge: 'whole' });
      else map.set(name, { merge: 'core' });
    }
    rulesByKind.set(kind, (rules = map));
  }
  return rules;
}

export interface MergedSettings {
  /** targetRefs of the first policy, and the merged settings. */
  readonly spec: Record<string, unknown>;
  /** Setting name → the policy it came from (for a keyed list: the first that has items). */
  readonly origins: ReadonlyMap<string, Attached>;
  /** The policies that gave at least one setting or list entry, highest precedence first. */
  readonly used: readonly Attached[];
}

const specOf = (a: Attached) => a.model.policy.spec as unknown as Readonly<Record<string, unknown>>;

/** `contributors`: highest precedence first, at least one, all of one kind. */
export function mergeSettings(contributors: readonly Attached[]): MergedSettings {
  const first = contributors[0]!;
  const spec: Record<string, unknown> = { targetRefs: specOf(first).targetRefs };
  const origins = new Map<string, Attached>();
  const used = new Set<Attached>();
  for (const [name, rule] of settingRules(first.model.kind)) {
    if (rule.merge === 'core') {
      const v = specOf(first)[name];
      if (v !== undefined) {
        spec[name] = v;
        origins.set(name, first);
        used.add(first);
      }
    } else if (rule.merge === 'whole') {
      const from = contributors.find((c) => specOf(c)[name] !== undefined);
      if (from) {
        spec[name] = specOf(from)[name];
        origins.set(name, from);
        used.add(from);
      }
    } else {
      const seen = new Set<string>();
      const items: unknown[] = [];
      for (const c of contributors) {
        const list = specOf(c)[name];
        if (!Array.isArray(list)) continue;
        for (const item of list as readonly Readonly<Record<string, unknown>>[]) {
          const k = rule.keys.map((key) => String(item[key])).join('\n');
          if (seen.has(k)) continue;
          seen.add(k);
          items.push(item);
          used.add(c);
          if (!origins.has(name)) origins.set(name, c);
        }
      }
      if (items.length > 0) spec[name] = items;
    }
  }
  return { spec, origins, used: contributors.filter((c) => used.has(c)) };
}
