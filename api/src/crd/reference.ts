/** Renders docs/crd-reference.md from the same schemas as the CRDs. */
import { durationBoundsOf, isDurationBoundsRule } from '../schema/builders.js';
import { SECTIONS } from '../schema/attachment.js';
import { GROUP, KINDS, NOT_ENFORCED, VERSION, type KindDefinition } from '../schema/kinds.js';
import { kindDescription, specSchema, type Json } from './render.js';

type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOf(s: JsonObject): string {
  const t = typeof s.type === 'string' ? s.type : 'object';
  if (t === 'array' && isObject(s.items)) return `[]${typeOf(s.items)}`;
  if (t === 'object' && isObject(s.additionalProperties)) return 'map[string]string';
  return t;
}

/**
 * A Markdown code span holding `text` verbatim: fenced with one backtick more than the longest run
 * of backticks inside (CommonMark), padded with a space when the text touches a backtick.
 */
export function code(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest > 0 && (text.startsWith('`') || text.endsWith('`') || text.startsWith(' ') || text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function constraints(s: JsonObject): string {
  const parts: string[] = [];
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map((v) => code(String(v))).join(', ')}`);
  if (s.minimum !== undefined) parts.push(`≥ ${String(s.minimum)}`);
  if (s.maximum !== undefined) parts.push(`≤ ${String(s.maximum)}`);
  if (s.minItems !== undefined) parts.push(`≥ ${String(s.minItems)} items`);
  if (s.maxItems !== undefined) parts.push(`≤ ${String(s.maxItems)} items`);
  if (s.minLength !== undefined && s.minLength !== 0) parts.push(`length ≥ ${String(s.minLength)}`);
  const bounds = durationBoundsOf(s);
  if (bounds) parts.push(`duration ${bounds.min} to ${bounds.max}`);
  else if (typeof s.pattern === 'string') parts.push(`pattern ${code(s.pattern)}`);
  if (s['x-kubernetes-list-map-keys'] !== undefined && Array.isArray(s['x-kubernetes-list-map-keys']))
    parts.push(`keyed by ${s['x-kubernetes-list-map-keys'].join(', ')}`);
  // A list of scalars has no rows of its own for its items: their constraints go here.
  if (s.type === 'array' && isObject(s.items) && s.items.type !== 'object') {
    const items = constraints(s.items);
    if (items) parts.push(`items: ${items}`);
  }
  return parts.join('; ');
}

/** Text for a table cell: GFM splits cells at every unescaped `|`, inside code spans too. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function ruleLine(path: string, v: JsonObject): string {
  return `- ${code(path)}: ${String(v.message)} — ${code(String(v.rule))}`;
}

/** The CEL rules worth listing: not the bounds of a duration, which the constraints column shows. */
function listedRules(validations: Json | undefined): JsonObject[] {
  return Array.isArray(validations) ? validations.filter((v) => isObject(v) && !isDurationBoundsRule(String(v.rule))).filter(isObject) : [];
}

/** spec.defaults and spec.overrides hold the settings of spec again (schema/attachment.ts): shown once. */
const SECTION_PATHS = new Set(SECTIONS.map((s) => `spec.${s}`));

function walk(schema: JsonObject, path: string, required: boolean, rows: string[], rules: string[]): void {
  const def = schema.default !== undefined ? code(JSON.stringify(schema.default)) : '';
  const desc = typeof schema.description === 'string' ? schema.description : '';
  rows.push(
    `| ${cell(code(path))} | ${typeOf(schema)} | ${required ? 'yes' : ''} | ${cell(def)} | ${cell(constraints(schema))} | ${cell(desc)} |`,
  );
  if (SECTION_PATHS.has(path) && isObject(schema.properties) && isObject(schema.properties.strategy)) {
    walk(schema.properties.strategy, `${path}.strategy`, false, rows, []);
    rows.push(
      `| ${cell(code(`${path}.*`))} | | | | | Every setting of spec above but targetRefs, with the same defaults, constraints and cross-field rules (a setting required in spec is required here). |`,
    );
    return;
  }
  for (const v of listedRules(schema['x-kubernetes-validations'])) rules.push(ruleLine(path, v));
  const target = schema.type === 'array' && isObject(schema.items) ? schema.items : schema;
  const childPath = schema.type === 'array' ? `${path}[]` : path;
  if (isObject(target.properties)) {
    const req = Array.isArray(target.required) ? target.required : [];
    for (const [name, child] of Object.entries(target.properties)) {
      if (isObject(child)) walk(child, `${childPath}.${name}`, req.includes(name), rows, rules);
    }
  }
  if (target !== schema) for (const v of listedRules(target['x-kubernetes-validations'])) rules.push(ruleLine(childPath, v));
}

function kindSection(def: KindDefinition): string {
  const rows: string[] = [];
  const rules: string[] = [];
  const spec = specSchema(def);
  if (isObject(spec)) walk(spec, 'spec', true, rows, rules);
  return [
    `## ${def.kind}`,
    '',
    kindDescription(def),
    '',
    `\`kubectl get ${def.plural}\` (short: ${def.shortNames.map((s) => `\`${s}\``).join(', ')}) · \`kubectl explain ${def.plural}.spec --recursive\``,
    '',
    '| field | type | required | default | constraints | description |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    'Cross-field rules (checked by the apiserver with CEL):',
    '',
    ...rules,
    '',
  ].join('\n');
}

/** Which kinds a gateway enforces, from each kind's `enforced`. */
function enforcement(): string[] {
  const names = (enforced: boolean) => KINDS.filter((k) => k.enforced === enforced).map((k) => k.kind);
  const lines = [`The gateway enforces ${names(true).join(', ')}.`];
  for (const kind of names(false)) lines.push(`${kind}: ${NOT_ENFORCED}`);
  return lines.flatMap((line) => [line, '']);
}

export function renderReference(): string {
  return [
    '<!-- Generated by `npm run generate` from api/src/schema/. Do not edit by hand. -->',
    '# CRD reference',
    '',
    `Group \`${GROUP}\`, version \`${VERSION}\`; every kind is namespaced and attaches to Gateway API objects through \`spec.targetRefs\` (GEP-713).`,
    'Durations follow GEP-2257 (`500ms`, `30s`, `5m`, `1h30m`), each within the bounds its constraints name. Every kind has the status',
    'subresource with the conditions `Accepted` (reasons `Accepted`, `Invalid`, `TargetNotFound`, `Conflicted`) and `Enforced`',
    '(`Enforced`, `Pending`, `NotEnforced`, `Unsupported`, `Overridden`) and `observedGeneration` (a ClientIdentityPolicy also',
    '`ResolvedRefs`: `ResolvedRefs`, `SecretNotFound`, `InvalidSecret`); `kubectl get` shows the first target, both conditions and',
    'the age, and `kubectl get jarvis` lists every policy.',
    '',
    ...enforcement(),
    ...KINDS.map((def) => `- [${def.kind}](#${def.kind.toLowerCase()})`),
    '',
    ...KINDS.map(kindSection),
  ].join('\n');
}
