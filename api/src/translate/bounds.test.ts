/**
 * What the apiserver accepts, the gateway accepts: a policy the CRD lets through must never give
 * an IR that a gateway refuses, or every later update of that Gateway's config is refused with it.
 * Every duration of every example policy is set to each of its bounds in turn; when the policy
 * still passes the CRD's schema and rules, it is translated with all of examples/ and the IR must
 * hold all of its invariants, with the policy Accepted.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { plainSchema } from '../crd/render.js';
import { validateIR } from '../ir/validate.js';
import { DURATION_PATTERN, durationBoundsOf } from '../schema/builders.js';
import { KINDS, kindDefinition } from '../schema/kinds.js';
import { isObject, type SchemaNode } from '../validate/schema-node.js';
import { isPolicyManifest, validateManifest } from '../validate/manifest.js';
import { CONTROLLER_NAME } from './constants.js';
import { translate } from './translate.js';

const examples = join(import.meta.dirname, '../../../examples');
const objects = readdirSync(examples)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => yaml.loadAll(readFileSync(join(examples, f), 'utf8')))
  .filter((o) => o !== null && o !== undefined);

type Path = readonly (string | number)[];

/** Paths (under spec) of the durations present in a defaulted spec, with their bounds. */
function durations(value: unknown, node: SchemaNode, path: Path, out: [Path, string, string][]): [Path, string, string][] {
  if (node.pattern === DURATION_PATTERN && typeof value === 'string') {
    const bounds = durationBoundsOf(node);
    if (bounds) out.push([path, bounds.min, bounds.max]);
  } else if (Array.isArray(value) && node.items) value.forEach((v, i) => durations(v, node.items!, [...path, i], out));
  else if (isObject(value))
    for (const [k, v] of Object.entries(value)) if (node.properties?.[k]) durations(v, node.properties[k], [...path, k], out);
  return out;
}

function setAt(root: unknown, path: Path, value: string): void {
  let cur = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
}

const cases = objects.flatMap((obj, index) => {
  if (!isPolicyManifest(obj)) return [];
  const checked = validateManifest(obj);
  if (!checked.ok) throw new Error(`examples: ${JSON.stringify(obj).slice(0, 80)} is invalid`);
  const node = plainSchema(kindDefinition(checked.kind)!.spec) as SchemaNode;
  return durations(checked.policy.spec, node, [], []).flatMap(([path, min, max]) =>
    [min, max].map((bound) => ({
      index,
      policy: checked.policy,
      path,
      bound,
      name: `${checked.kind} ${checked.policy.metadata.name} spec.${path.join('.')} = ${bound}`,
    })),
  );
});

describe('a duration at either bound never makes an IR the gateway refuses', () => {
  it('covers every kind', () => {
    expect(new Set(cases.map((c) => c.policy.kind)).size).toBe(KINDS.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const policy = structuredClone(c.policy);
    setAt(policy.spec, c.path, c.bound);
    // Rules between fields (timeout < interval, default <= max …) may refuse the bound: then the
    // apiserver refuses the policy too, and nothing reaches a gateway.
    if (!validateManifest(policy).ok) return;
    const input = objects.map((o, i) => (i === c.index ? policy : o));
    const result = translate({ objects: input }, { controllerName: CONTROLLER_NAME });
    const checked = validateIR(JSON.parse(JSON.stringify(result.ir)));
    expect(checked.ok ? [] : checked.errors).toEqual([]);
    const own = result.policies.find((p) => p.ref.kind === policy.kind && p.ref.name === policy.metadata.name);
    expect(own?.accepted.reason).toBe('Accepted');
  });
});
