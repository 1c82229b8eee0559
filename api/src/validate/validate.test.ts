/** Focused tests of offline validation: defaulting like the apiserver, CEL bindings, strictness, metadata. */
import { describe, expect, it } from 'vitest';
import { applyDefaults } from './defaults.js';
import { toCel } from './cel.js';
import { formatFieldError } from './errors.js';
import { validateManifest } from './manifest.js';
import type { SchemaNode } from './schema-node.js';

const policy = (kind: string, spec: unknown, metadata: unknown = { name: 'p', namespace: 'ns' }) => ({
  apiVersion: 'stability.jarvis.io/v1alpha1',
  kind,
  metadata,
  spec,
});
const route = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' };
const messages = (obj: unknown) => validateManifest(obj).errors.map(formatFieldError);

describe('applyDefaults (structural defaulting)', () => {
  const schema: SchemaNode = {
    type: 'object',
    properties: {
      a: { type: 'object', default: { x: 1 }, properties: { x: { type: 'integer' }, y: { type: 'integer', default: 2 } } },
      b: { type: 'string', default: 'b' },
      list: { type: 'array', items: { type: 'object', properties: { z: { type: 'boolean', default: true } } } },
    },
  };
  it('fills a missing object with its default, then the default with its properties’ defaults', () => {
    const v: Record<string, unknown> = { list: [{}, { z: false }] };
    applyDefaults(v, schema);
    expect(v).toEqual({ a: { x: 1, y: 2 }, b: 'b', list: [{ z: true }, { z: false }] });
  });
  it('treats null like absent and never touches values that are set', () => {
    const v: Record<string, unknown> = { a: { x: 5 }, b: null };
    applyDefaults(v, schema);
    expect(v).toEqual({ a: { x: 5, y: 2 }, b: 'b' });
  });
  it('does not share the default between objects', () => {
    const one: Record<string, unknown> = {};
    const two: Record<string, unknown> = {};
    applyDefaults(one, schema);
    applyDefaults(two, schema);
    (one.a as Record<string, unknown>).x = 99;
    expect((two.a as Record<string, unknown>).x).toBe(1);
  });
});

describe('validateManifest', () => {
  it('applies the schema defaults to a minimal policy', () => {
    const r = validateManifest(policy('CircuitBreakerPolicy', { targetRefs: [route], breaker: {} }, { name: 'cb' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.policy.metadata.namespace).toBe('default');
    expect(r.policy.spec).toMatchObject({
      breaker: {
        failureStatusCodes: [500, 502, 503, 504],
        window: { type: 'Count', size: 100 },
        halfOpen: { maxProbes: 3, successThreshold: 2 },
        openDuration: { base: '60s', max: '10m', multiplierPercent: 200 },
      },
    });
  });

  it('checks CEL rules against defaulted values (RateLimitPolicy failureMode, Queue deadline)', () => {
    expect(messages(policy('QueuePolicy', { targetRefs: [route], maxInFlight: 1, deadline: { default: '5m' } }))).toEqual([
      'spec.deadline.default: Invalid value: "object": default must not be longer than max',
    ]);
  });

  it('reports unknown fields like kubectl strict field validation, everywhere', () => {
    expect(
      messages({ ...policy('CachePolicy', { targetRefs: [{ ...route, namespace: 'x' }], ttl: '1m', l1: { size: 3 } }), extra: 1 }),
    ).toEqual([
      'extra: unknown field "extra"',
      'spec.targetRefs[0].namespace: unknown field "spec.targetRefs[0].namespace"',
      'spec.l1.size: unknown field "spec.l1.size"',
    ]);
  });

  it('still evaluates CEL when the only structural problem is an unknown field', () => {
    expect(messages(policy('CachePolicy', { targetRefs: [route], ttl: '1m', methods: ['POST'], bogus: true }))).toEqual([
      'spec.bogus: unknown field "spec.bogus"',
      'spec.key.body: Invalid value: "object": caching POST needs key.body: true, or different bodies would share one entry',
    ]);
  });

  it('reports duplicate keys of map lists and duplicate set items', () => {
    const limit = { name: 'a', scope: 'Global', rate: { requests: 1, per: '1s' } };
    expect(messages(policy('RateLimitPolicy', { targetRefs: [route], limits: [limit, limit] }))).toEqual([
      'spec.limits[1]: Duplicate value: {"name":"a"}',
    ]);
    expect(messages(policy('CachePolicy', { targetRefs: [route], ttl: '1m', methods: ['GET', 'GET'] }))).toEqual([
      'spec.methods[1]: Duplicate value: "GET"',
    ]);
  });

  it('never stringifies a non-scalar list-map key (a shared subtree would expand there)', () => {
    // One array referenced 9 times per level, 8 levels deep: 9^8 leaves if anything walked it as a tree.
    let shared: unknown[] = ['lol'];
    for (let i = 0; i < 8; i++) shared = Array.from({ length: 9 }, () => shared);
    const limit = { name: shared, scope: 'Global', rate: { requests: 1, per: '1s' } };
    const errors = messages(policy('RateLimitPolicy', { targetRefs: [route], limits: [limit, limit] }));
    expect(errors).toContain('spec.limits[0].name: Invalid value: "array": must be of type string');
    expect(errors).toContain('spec.limits[1].name: Invalid value: "array": must be of type string');
    expect(errors.some((e) => e.includes('Duplicate'))).toBe(false);
  });

  it('evaluates rules with has(), exists_one, filter, size, in, indexing and duration()', () => {
    expect(
      messages(
        policy('RateLimitPolicy', {
          targetRefs: [route, route],
          limits: [{ name: 'a', scope: 'Global', rate: { requests: 1, per: '1s' } }],
        }),
      ),
    ).toEqual(['spec.targetRefs: Duplicate value: targetRefs must not name the same target twice']);
    expect(
      messages(
        policy('RateLimitPolicy', {
          targetRefs: [route],
          limits: [{ name: 'a', scope: 'Global', rate: { requests: 1, per: '1s' }, cost: { fixed: 1, header: 'x-cost' } }],
        }),
      ),
    ).toEqual(['spec.limits[0].cost: Invalid value: "object": exactly one of fixed, header and llmTokens must be set']);
  });

  it('checks metadata', () => {
    expect(messages(policy('CachePolicy', { targetRefs: [route], ttl: '1m' }, { name: 'Bad_Name', namespace: 'x', foo: 1 }))).toEqual([
      expect.stringMatching(/^metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/),
      'metadata.foo: unknown field "metadata.foo"',
    ]);
    expect(messages(policy('CachePolicy', { targetRefs: [route], ttl: '1m' }, {}))).toEqual([
      'metadata.name: Required value: name is required',
    ]);
    expect(
      validateManifest(policy('CachePolicy', { targetRefs: [route], ttl: '1m' }, { name: 'a' }), { defaultNamespace: 'team' }),
    ).toMatchObject({
      ok: true,
      policy: { metadata: { namespace: 'team' } },
    });
  });

  it('rejects other kinds and versions', () => {
    expect(
      messages({ apiVersion: 'stability.jarvis.io/v1', kind: 'FooPolicy', metadata: { name: 'a' } }).map((m) => m.split(':')[0]),
    ).toEqual(['apiVersion', 'kind']);
    expect(messages('text')).toEqual([': Invalid value: a manifest must be an object']);
  });
});

describe('toCel', () => {
  it('turns schema integers into CEL ints and objects into maps', () => {
    const schema: SchemaNode = {
      type: 'object',
      properties: { n: { type: 'integer' }, f: { type: 'number' }, l: { type: 'array', items: { type: 'integer' } } },
    };
    expect(toCel({ n: 3, f: 1.5, l: [1, 2] }, schema)).toEqual(
      new Map<string, unknown>([
        ['n', 3n],
        ['f', 1.5],
        ['l', [1n, 2n]],
      ]),
    );
  });
});
