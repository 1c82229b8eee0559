/**
 * The defaults/overrides wrapping of every kind (attachment.ts): the settings at the top level keep
 * their defaults but not their `required`, the sections keep both, and the generated rules say what
 * they must — checked with the offline CEL evaluator, the apiserver's own being in e2e (crds).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { plainSchema, type Json } from '../crd/render.js';
import { validateManifest } from '../validate/manifest.js';
import { isDefaultExpr } from './attachment.js';
import { KINDS } from './kinds.js';

type Node = { [key: string]: Json };
type Manifest = { kind: string; spec: { targetRefs: unknown[] } & Record<string, unknown> };

const EXAMPLES = join(import.meta.dirname, '../../../examples');
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => yaml.loadAll(readFileSync(join(EXAMPLES, f), 'utf8')) as Manifest[]);
const isNode = (v: Json | undefined): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

describe('isDefaultExpr', () => {
  it('compares scalars and lists whole, objects property by property, absent properties with !has()', () => {
    const schema = {
      properties: {
        mode: { type: 'string' },
        timeout: { type: 'string' },
        ttl: { type: 'string' },
        nested: { properties: { on: { type: 'boolean' } } },
      },
    };
    expect(isDefaultExpr('self.x', schema, { mode: 'Open', timeout: "5'0", nested: { on: true } })).toBe(
      "self.x.mode == 'Open' && self.x.timeout == '5\\'0' && !has(self.x.ttl) && self.x.nested.on == true",
    );
    expect(isDefaultExpr('self.m', { type: 'array' }, ['GET', 'HEAD'])).toBe("self.m == ['GET', 'HEAD']");
    expect(isDefaultExpr('self.n', { type: 'integer' }, 3)).toBe('self.n == 3');
  });
});

// ClientIdentityPolicy targets Gateways only: no hierarchy to default or override along.
const SECTIONED = KINDS.filter((k) => k.spec !== k.settings);

it('every kind but ClientIdentityPolicy has defaults and overrides', () => {
  expect(KINDS.filter((k) => k.spec === k.settings).map((k) => k.kind)).toEqual(['ClientIdentityPolicy']);
  const identity = KINDS.find((k) => k.kind === 'ClientIdentityPolicy');
  expect(Object.keys(identity?.spec.properties ?? {})).not.toContain('defaults');
});

describe.each(SECTIONED.map((k) => [k.kind, k] as const))('%s', (kind, def) => {
  const spec = plainSchema(def.spec) as Node;
  const settings = plainSchema(def.settings) as Node;
  const props = spec.properties as Node;

  it('has targetRefs, the settings, defaults and overrides; only targetRefs is required at the top level', () => {
    expect(Object.keys(props)).toEqual([...Object.keys(settings.properties as Node), 'defaults', 'overrides']);
    expect(spec.required).toEqual(['targetRefs']);
  });

  it('keeps in each section what the settings require, with the strategy defaulted to the kind’s', () => {
    for (const section of ['defaults', 'overrides']) {
      const s = props[section] as Node;
      expect(isNode(s) && (s.properties as Node).strategy).toMatchObject({ default: def.strategy, enum: ['Atomic', 'Merge'] });
      expect(s.required ?? []).toEqual(((settings.required ?? []) as string[]).filter((n) => n !== 'targetRefs'));
      expect(s['x-kubernetes-validations'] ?? []).toEqual(settings['x-kubernetes-validations'] ?? []);
    }
  });

  it('accepts the settings of its example under overrides on a Gateway or Namespace, and refuses them on a route', () => {
    const example = examples.find((m) => m.kind === kind)!;
    const { targetRefs: _own, ...settings } = example.spec;
    const manifest = (targetRefs: unknown[]) => ({ ...example, spec: { targetRefs, overrides: settings } });
    const gateway = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' };
    const namespace = { group: '', kind: 'Namespace', name: 'jarvis' };
    const route = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' };
    expect(validateManifest(manifest([gateway, namespace])).errors).toEqual([]);
    expect(validateManifest(manifest([gateway, route])).errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      `spec.targetRefs: Invalid value: "object": overrides apply only to Gateways and the policy's Namespace: every targetRef of a policy with overrides must be one`,
    ]);
  });
});
