/**
 * GEP-713 defaults and overrides, built the same way for every kind from the kind's own spec (its
 * "proper" spec: targetRefs and the settings):
 *
 *     spec:
 *       targetRefs: [...]
 *       <settings>            # the top-level form: defaults, with the kind's default strategy
 *     # or
 *       defaults:  { strategy: Atomic | Merge, <settings> }
 *     # or
 *       overrides: { strategy: Atomic | Merge, <settings> }   # only on Gateways and Namespaces
 *
 * Exactly one of the three holds the settings. The top-level settings keep their schema defaults
 * (the apiserver fills them in, as before), so with a section the top level may only hold those
 * defaults: a rule per setting refuses anything else, naming the field. A setting the kind
 * requires is required at the top level only when no section is there (a rule, not `required`),
 * and the kind's own cross-field rules run at the top level only then; inside each section the
 * settings carry their `required`, defaults and rules unchanged. The translator reads the settings
 * from wherever they are (translate/parse/sections.ts).
 */
import type { TObject, TProperties, TSchema } from '@sinclair/typebox';
import { obj, oneOf, optional, type CelRule } from './builders.js';
import { OVERRIDE_TARGET_KINDS } from './common.js';

export const STRATEGIES = ['Atomic', 'Merge'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const SECTIONS = ['defaults', 'overrides'] as const;
export type Section = (typeof SECTIONS)[number];

export interface AttachmentOptions {
  /** The strategy of the top-level form, and the default of `strategy` in a section. */
  readonly strategy: Strategy;
  /** What Merge merges for this kind (one sentence, for the descriptions). */
  readonly merge: string;
}

interface PlainSchema {
  readonly type?: string;
  readonly default?: unknown;
  readonly properties?: Readonly<Record<string, PlainSchema>>;
}

/** A CEL literal of a JSON default value. */
function celLiteral(v: unknown): string {
  if (typeof v === 'string') return `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(celLiteral).join(', ')}]`;
  throw new Error(`no CEL literal for ${JSON.stringify(v)}`);
}

/**
 * The CEL test that `expr` holds exactly the default `def` of its schema: scalars and lists
 * compared whole, objects property by property (a property the default does not fill in must be
 * absent).
 */
export function isDefaultExpr(expr: string, schema: PlainSchema, def: unknown): string {
  if (typeof def === 'object' && def !== null && !Array.isArray(def) && schema.properties) {
    const values = def as Readonly<Record<string, unknown>>;
    const parts = Object.entries(schema.properties).map(([name, child]) =>
      name in values ? isDefaultExpr(`${expr}.${name}`, child, values[name]) : `!has(${expr}.${name})`,
    );
    return parts.length > 0 ? parts.join(' && ') : 'true';
  }
  return `${expr} == ${celLiteral(def)}`;
}

/** The top-level settings a rule reads (`self.<name>`). */
function fieldsRead(rule: string): Set<string> {
  return new Set([...rule.matchAll(/\bself\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}

const plain = (s: TSchema): PlainSchema => JSON.parse(JSON.stringify(s)) as PlainSchema;
const SECTION_USED = 'has(self.defaults) || has(self.overrides)';

function sectionSchema(which: Section, settings: TProperties, rules: readonly CelRule[], options: AttachmentOptions): TSchema {
  const description =
    which === 'defaults'
      ? `The settings as defaults: a policy of this kind on a more specific target takes precedence over them (from the least specific: Gateway, Gateway listener, Namespace, Service, Service port, HTTPRoute, HTTPRoute rule). Atomic: they apply whole, and only where no more specific policy applies. Merge: ${options.merge}`
      : `The settings as overrides, only on a Gateway (or a listener) or the policy's own Namespace: they take precedence over every policy of this kind on a more specific target, a Gateway's over a Namespace's. Atomic: they apply whole and the more specific policies are ignored. Merge: ${options.merge} See docs/policy-attachment.md.`;
  const properties: TProperties = {
    strategy: oneOf(`How these settings combine with the policies below them in precedence. Default: ${options.strategy}.`, STRATEGIES, {
      default: options.strategy,
    }),
    ...settings,
  };
  return optional(obj(description, properties, { rules }));
}

/**
 * The spec of a kind with `defaults` and `overrides` besides its top-level settings. `proper` is
 * the kind's spec as it was: targetRefs and the settings, with their rules.
 */
export function withDefaultsAndOverrides(proper: TObject, options: AttachmentOptions): TObject {
  const { targetRefs, ...settings } = proper.properties;
  if (!targetRefs) throw new Error('a policy spec needs targetRefs');
  const required = (proper.required ?? []).filter((n) => n !== 'targetRefs');
  const rules = (proper['x-kubernetes-validations'] ?? []) as readonly CelRule[];

  const topLevel: TProperties = {};
  for (const [name, schema] of Object.entries(settings)) topLevel[name] = required.includes(name) ? optional(schema) : schema;

  const sectionRules: CelRule[] = [
    {
      rule: '!(has(self.defaults) && has(self.overrides))',
      message: 'defaults and overrides are mutually exclusive: put each in a policy of its own',
      fieldPath: '.overrides',
    },
    {
      rule: `!has(self.overrides) || self.targetRefs.all(t, ${OVERRIDE_TARGET_KINDS.map((k) => `t.kind == '${k}'`).join(' || ')})`,
      message: "overrides apply only to Gateways and the policy's Namespace: every targetRef of a policy with overrides must be one",
      fieldPath: '.targetRefs',
    },
  ];
  for (const name of required)
    sectionRules.push({
      rule: `${SECTION_USED} || has(self.${name})`,
      message: `${name} is required, at the top level or inside defaults or overrides`,
      fieldPath: `.${name}`,
      reason: 'FieldValueRequired',
    });
  for (const [name, schema] of Object.entries(settings)) {
    const p = plain(schema);
    const unchanged = p.default === undefined ? `!has(self.${name})` : isDefaultExpr(`self.${name}`, p, p.default);
    sectionRules.push({
      rule: `!(${SECTION_USED}) || ${unchanged}`,
      message:
        p.default === undefined
          ? `${name} belongs inside defaults or overrides when the policy has one`
          : `${name} belongs inside defaults or overrides when the policy has one (at the top level it may only keep its default)`,
      fieldPath: `.${name}`,
      reason: 'FieldValueForbidden',
    });
  }
  // The kind's own rules, at the top level only for the top-level form; a required setting they
  // read that is missing has its own error.
  for (const r of rules) {
    const missing = [...fieldsRead(r.rule)].filter((f) => required.includes(f)).map((f) => `!has(self.${f})`);
    sectionRules.push({ ...r, rule: [SECTION_USED, ...missing, `(${r.rule})`].join(' || ') });
  }

  return obj(
    `${proper.description ?? ''} The settings go at the top level (defaults with strategy ${options.strategy}), or inside defaults or overrides.`.trim(),
    {
      targetRefs,
      ...topLevel,
      defaults: sectionSchema('defaults', settings, rules, options),
      overrides: sectionSchema('overrides', settings, rules, options),
    },
    {
      rules: sectionRules,
    },
  );
}
