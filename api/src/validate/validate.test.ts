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
    ).toEqual(['spec.targetRefs: Duplicate value: "array"']); // the apiserver shows the type for FieldValueDuplicate, not the message
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
      'metadata.name: Required value: name or generateName is required',
      ': Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    ]);
    expect(
      validateManifest(policy('CachePolicy', { targetRefs: [route], ttl: '1m' }, { name: 'a' }), { defaultNamespace: 'team' }),
    ).toMatchObject({
      ok: true,
      policy: { metadata: { namespace: 'team' } },
    });
  });

  const notChecked =
    ': Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

  it('runs every CEL rule when the schema errors are only patterns and bounds, as the apiserver does', () => {
    const limit = { name: 'a', scope: 'Header', rate: { requests: 0, per: '1 second' } };
    expect(messages(policy('RateLimitPolicy', { targetRefs: [route], limits: [limit] }))).toEqual([
      'spec.limits[0].rate.requests: Invalid value: 0: should be greater than or equal to 1',
      `spec.limits[0].rate.per: Invalid value: "1 second": should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'`,
      'spec.limits[0].header: Invalid value: "object": header is required when scope is Header and not allowed otherwise',
    ]);
  });

  it('runs no CEL rule at all after a wrong type, a missing field, an unknown value or a list too long, and says so', () => {
    const limits = [
      { name: 'a', scope: 'Header', rate: { requests: 1, per: '1s' } },
      { name: 'b', scope: 'Global', algorithm: 'Leaky', rate: { requests: 1, per: '1s' } },
    ];
    expect(messages(policy('RateLimitPolicy', { targetRefs: [route], limits }))).toEqual([
      'spec.limits[1].algorithm: Unsupported value: "Leaky": supported values: "TokenBucket", "GCRA", "SlidingWindow", "SlidingLog", "FixedWindow"',
      notChecked,
    ]);
    expect(messages(policy('CachePolicy', { targetRefs: [route], ttl: 60, methods: ['POST'] }))).toEqual([
      'spec.ttl: Invalid value: 60: must be of type string',
      notChecked,
    ]);
    expect(messages(policy('CachePolicy', { targetRefs: [route], methods: ['POST'] }))).toEqual(['spec.ttl: Required value', notChecked]);
  });

  it('reports a malformed duration once, not again from the rules that compare it', () => {
    for (const [kind, spec, field] of [
      ['CircuitBreakerPolicy', { targetRefs: [route], breaker: { openDuration: { base: '1 minute' } } }, 'spec.breaker.openDuration.base'],
      [
        'CircuitBreakerPolicy',
        { targetRefs: [route], activeHealthCheck: { timeout: '1x', interval: '1s' } },
        'spec.activeHealthCheck.timeout',
      ],
      ['QueuePolicy', { targetRefs: [route], maxInFlight: 1, deadline: { max: 'soon' } }, 'spec.deadline.max'],
      ['CachePolicy', { targetRefs: [route], ttl: '1 hour', l1: { ttl: '1m' } }, 'spec.ttl'],
      [
        'CircuitBreakerPolicy',
        { targetRefs: [route], breaker: { slowCall: { threshold: '2 s' }, window: { type: 'Time', duration: '10s' } } },
        'spec.breaker.slowCall.threshold',
      ],
    ] as const)
      expect(messages(policy(kind, spec)).map((m) => m.split(': ')[0])).toEqual([field]);
  });

  it('checks that a rule comparing two durations still holds when both are well formed', () => {
    expect(
      messages(
        policy('CircuitBreakerPolicy', { targetRefs: [route], breaker: { slowCall: { threshold: '1m' }, window: { type: 'Time' } } }),
      ),
    ).toEqual([
      'spec.breaker.window.duration: Invalid value: "object": duration is required for a Time window and not allowed for a Count window',
    ]);
  });

  it('accepts activeHealthCheck: {} with its defaults, and an HTTP probe only for type HTTP', () => {
    const ok = validateManifest(policy('CircuitBreakerPolicy', { targetRefs: [route], activeHealthCheck: {} }));
    expect(ok).toMatchObject({
      ok: true,
      policy: { spec: { activeHealthCheck: { type: 'HTTP', interval: '5s', timeout: '1s', unhealthyThreshold: 3, healthyThreshold: 2 } } },
    });
    expect(messages(policy('CircuitBreakerPolicy', { targetRefs: [route], activeHealthCheck: { type: 'TCP', http: {} } }))).toEqual([
      'spec.activeHealthCheck.http: Invalid value: "object": http is allowed only when type is HTTP',
    ]);
  });

  it('refuses one target named both with and without sectionName, and allows several sections of one target', () => {
    const rule = { ...route, sectionName: 'stream' };
    const spec = (targetRefs: unknown[]) => ({ targetRefs, limits: [{ name: 'a', scope: 'Global', rate: { requests: 1, per: '1s' } }] });
    expect(messages(policy('RateLimitPolicy', spec([route, rule])))).toEqual([
      'spec.targetRefs: Invalid value: "array": a target named more than once needs a sectionName in every reference: a reference without sectionName already covers the whole target',
    ]);
    expect(messages(policy('RateLimitPolicy', spec([rule, { ...route, sectionName: 'other' }, { ...route, name: 'r2' }])))).toEqual([]);
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
