/**
 * Structural-schema hygiene for every kind: what the apiserver requires of a CRD, plus our own
 * rules (a description on every field for `kubectl explain`, bounds on every string, list and map
 * so CEL costs can be estimated, CEL fieldPaths that point at real fields).
 */
import { describe, expect, it } from 'vitest';
import { crdFor, plainSchema, type Json } from '../crd/render.js';
import { durationMs } from '../translate/duration.js';
import { validateCel } from '../validate/cel.js';
import type { FieldError } from '../validate/errors.js';
import type { SchemaNode } from '../validate/schema-node.js';
import { DURATION_PATTERN, durationBoundsOf, isDuration } from './builders.js';
import { KINDS, NOT_ENFORCED } from './kinds.js';

type Node = { [key: string]: Json };
const isNode = (v: Json | undefined): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

const FORBIDDEN = ['anyOf', 'oneOf', 'allOf', 'not', 'const', '$ref', 'patternProperties', '$id', '$schema'];

interface Finding {
  readonly path: string;
  readonly problem: string;
}

function check(node: Node, path: string, out: Finding[]): void {
  for (const key of FORBIDDEN) if (key in node) out.push({ path, problem: `uses ${key}` });
  if (typeof node.description !== 'string' || node.description.length < 8) out.push({ path, problem: 'has no description' });
  if (typeof node.type !== 'string') out.push({ path, problem: 'has no type' });
  if (node.type === 'string' && node.maxLength === undefined && !Array.isArray(node.enum))
    out.push({ path, problem: 'string without maxLength' });
  if (node.type === 'array' && node.maxItems === undefined) out.push({ path, problem: 'list without maxItems' });
  if (node.type === 'object' && isNode(node.additionalProperties)) {
    if (node.properties !== undefined) out.push({ path, problem: 'properties and additionalProperties together' });
    if (node.maxProperties === undefined) out.push({ path, problem: 'map without maxProperties' });
  }
  if (node.additionalProperties === false) out.push({ path, problem: 'additionalProperties: false is not structural' });

  const rules = node['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const rule of rules) {
      if (!isNode(rule) || typeof rule.rule !== 'string' || typeof rule.message !== 'string' || rule.message.length === 0) {
        out.push({ path, problem: 'CEL rule without rule or message' });
        continue;
      }
      if (typeof rule.fieldPath === 'string' && !resolves(node, rule.fieldPath))
        out.push({ path, problem: `CEL fieldPath ${rule.fieldPath} names no field` });
    }
  }

  const mapKeys = node['x-kubernetes-list-map-keys'];
  if (Array.isArray(mapKeys) && isNode(node.items)) {
    const required = Array.isArray(node.items.required) ? node.items.required : [];
    for (const key of mapKeys) if (!required.includes(key)) out.push({ path, problem: `list map key ${String(key)} is not required` });
  }

  if (isNode(node.properties))
    for (const [name, child] of Object.entries(node.properties)) if (isNode(child)) check(child, `${path}.${name}`, out);
  if (isNode(node.items)) check(node.items, `${path}[]`, out);
}

/** Every node of a schema with its path. */
function nodes(node: Node, path: string, out: [string, Node][] = []): [string, Node][] {
  out.push([path, node]);
  if (isNode(node.properties))
    for (const [name, child] of Object.entries(node.properties)) if (isNode(child)) nodes(child, `${path}.${name}`, out);
  if (isNode(node.items)) nodes(node.items, `${path}[]`, out);
  return out;
}

const rulesOf = (node: Node): string[] =>
  Array.isArray(node['x-kubernetes-validations']) ? node['x-kubernetes-validations'].filter(isNode).map((r) => String(r.rule)) : [];

/** `ms` as a GEP-2257 duration (each part at most 5 digits). */
function gep2257(ms: number): string {
  const parts: [number, string][] = [
    [Math.floor(ms / 3_600_000), 'h'],
    [Math.floor(ms / 60_000) % 60, 'm'],
    [Math.floor(ms / 1000) % 60, 's'],
    [ms % 1000, 'ms'],
  ];
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, u]) => `${n}${u}`)
      .join('') || '0s'
  );
}

/** The CEL errors of a duration node's own rules for `value`. */
function boundsErrors(node: Node, value: string): FieldError[] {
  const out: FieldError[] = [];
  validateCel(value, node as unknown as SchemaNode, 'f', out);
  return out;
}

function resolves(node: Node, fieldPath: string): boolean {
  let current: Json | undefined = node;
  for (const segment of fieldPath.split('.').slice(1)) {
    if (!isNode(current) || !isNode(current.properties)) return false;
    current = current.properties[segment];
  }
  return isNode(current);
}

describe.each(KINDS.map((k) => [k.kind, k] as const))('%s schema', (_kind, def) => {
  const spec = plainSchema(def.spec);

  it('is structural, bounded and described everywhere', () => {
    const findings: Finding[] = [];
    if (isNode(spec)) check(spec, 'spec', findings);
    expect(findings).toEqual([]);
  });

  it('attaches through targetRefs (1 to 16 Gateway, HTTPRoute, Service or Namespace; a ClientIdentityPolicy to Gateways only)', () => {
    const refs = isNode(spec) && isNode(spec.properties) ? spec.properties.targetRefs : undefined;
    expect(refs).toMatchObject({ type: 'array', minItems: 1, maxItems: 16 });
    expect(isNode(refs) && isNode(refs.items) && isNode(refs.items.properties) ? refs.items.properties.kind : undefined).toMatchObject({
      enum: def.kind === 'ClientIdentityPolicy' ? ['Gateway'] : ['Gateway', 'HTTPRoute', 'Service', 'Namespace'],
    });
    expect(isNode(spec) ? spec.required : undefined).toContain('targetRefs');
  });

  const durations = isNode(spec) ? nodes(spec, 'spec').filter(([, n]) => n.pattern === DURATION_PATTERN) : [];

  it('bounds every duration, with a default inside its bounds, and says so in its description', () => {
    expect(durations.length).toBeGreaterThan(0);
    for (const [path, node] of durations) {
      const bounds = durationBoundsOf(node);
      expect(bounds, path).toBeDefined();
      if (!bounds) continue;
      const [min, max] = [durationMs(bounds.min), durationMs(bounds.max)];
      expect(min, path).toBeGreaterThanOrEqual(0);
      expect(max, path).toBeGreaterThan(min);
      expect(node.description, path).toContain(`from ${bounds.min} to ${bounds.max}`);
      if (typeof node.default === 'string') {
        expect(durationMs(node.default), path).toBeGreaterThanOrEqual(min);
        expect(durationMs(node.default), path).toBeLessThanOrEqual(max);
      }
    }
  });

  it('refuses a duration just outside its bounds and accepts it at them, leaving malformed ones to the pattern', () => {
    for (const [path, node] of durations) {
      const bounds = durationBoundsOf(node)!;
      const [min, max] = [durationMs(bounds.min), durationMs(bounds.max)];
      for (const ok of [bounds.min, bounds.max, gep2257(min), gep2257(max)]) expect(boundsErrors(node, ok), `${path} = ${ok}`).toEqual([]);
      const outside = [gep2257(max + 1), ...(min > 0 ? [gep2257(min - 1), '0ms'] : [])];
      for (const bad of outside)
        expect(boundsErrors(node, bad), `${path} = ${bad}`).toEqual([
          {
            path: 'f',
            type: 'Invalid value',
            message: `Invalid value: "string": must be at least ${bounds.min} and at most ${bounds.max}`,
          },
        ]);
      expect(boundsErrors(node, '30 seconds'), path).toEqual([]);
    }
  });

  it('guards every duration() of a field with the duration pattern, so a malformed value gets one error', () => {
    for (const [path, node] of isNode(spec) ? nodes(spec, 'spec') : [])
      for (const rule of rulesOf(node))
        for (const m of rule.matchAll(/duration\(([^')]+)\)/g)) expect(rule, `${path}: ${m[1]}`).toContain(`!${isDuration(m[1]!)} ||`);
  });

  it(`says in the kind's description, the spec's and every spec field's but targetRefs' whether a gateway enforces it`, () => {
    const schema = (crdFor(def) as Node).spec as Node;
    const version = (schema.versions as Json[])[0] as Node;
    const top = (version.schema as Node).openAPIV3Schema as Node;
    const specNode = (top.properties as Node).spec as Node;
    const marked = (n: Json | undefined) => isNode(n) && String(n.description).includes(NOT_ENFORCED);
    expect(marked(top)).toBe(!def.enforced);
    expect(marked(specNode)).toBe(!def.enforced);
    for (const [name, child] of Object.entries(specNode.properties as Node))
      expect(marked(child), name).toBe(!def.enforced && name !== 'targetRefs');
  });

  it('has the status subresource, conditions keyed by type, printer columns and short names', () => {
    const crd = crdFor(def);
    expect(crd).toMatchObject({
      metadata: { labels: { 'gateway.networking.k8s.io/policy': 'Inherited' } },
      spec: {
        names: { kind: def.kind, plural: def.plural, shortNames: def.shortNames },
        versions: [
          {
            subresources: { status: {} },
            additionalPrinterColumns: [
              { name: 'Target Kind', jsonPath: '.spec.targetRefs[0].kind' },
              { name: 'Target Name', jsonPath: '.spec.targetRefs[0].name' },
              { name: 'Accepted' },
              { name: 'Enforced' },
              { name: 'Age', type: 'date' },
            ],
            schema: {
              openAPIV3Schema: {
                properties: {
                  status: {
                    properties: {
                      observedGeneration: { type: 'integer' },
                      conditions: { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
                    },
                  },
                },
              },
            },
          },
        ],
      },
    });
  });
});

describe('the schema checker', () => {
  it('reports what the apiserver or kubectl explain would miss', () => {
    const findings: Finding[] = [];
    check(
      {
        type: 'object',
        description: 'a test object',
        properties: {
          name: { type: 'string' },
          tags: {
            type: 'array',
            description: 'unbounded list',
            items: { type: 'string', description: 'one tag of the list', maxLength: 5 },
          },
          choice: { anyOf: [{ type: 'string' }], description: 'a union of types' },
        },
        'x-kubernetes-validations': [{ rule: 'true', message: 'm', fieldPath: '.missing' }],
      },
      'spec',
      findings,
    );
    expect(findings.map((f) => `${f.path}: ${f.problem}`).sort()).toEqual(
      [
        'spec: CEL fieldPath .missing names no field',
        'spec.choice: has no type',
        'spec.choice: uses anyOf',
        'spec.name: has no description',
        'spec.name: string without maxLength',
        'spec.tags: list without maxItems',
      ].sort(),
    );
  });
});
