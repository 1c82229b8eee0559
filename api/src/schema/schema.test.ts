/**
 * Structural-schema hygiene for every kind: what the apiserver requires of a CRD, plus our own
 * rules (a description on every field for `kubectl explain`, bounds on every string, list and map
 * so CEL costs can be estimated, CEL fieldPaths that point at real fields).
 */
import { describe, expect, it } from 'vitest';
import { crdFor, plainSchema, type Json } from '../crd/render.js';
import { KINDS } from './kinds.js';

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

  it('attaches through targetRefs (1 to 16 Gateway, HTTPRoute or Service)', () => {
    const refs = isNode(spec) && isNode(spec.properties) ? spec.properties.targetRefs : undefined;
    expect(refs).toMatchObject({ type: 'array', minItems: 1, maxItems: 16 });
    expect(isNode(refs) && isNode(refs.items) && isNode(refs.items.properties) ? refs.items.properties.kind : undefined).toMatchObject({
      enum: ['Gateway', 'HTTPRoute', 'Service'],
    });
    expect(isNode(spec) ? spec.required : undefined).toContain('targetRefs');
  });

  it('has the status subresource, conditions keyed by type, printer columns and short names', () => {
    const crd = crdFor(def);
    expect(crd).toMatchObject({
      spec: {
        names: { kind: def.kind, plural: def.plural, shortNames: def.shortNames },
        versions: [
          {
            subresources: { status: {} },
            additionalPrinterColumns: [{ name: 'Accepted' }, { name: 'Enforced' }, { name: 'Age', type: 'date' }],
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
