import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { validateBackendResource, validateGatewayResource, validateIR } from './validate.js';

type Json = { [key: string]: Json } | Json[] | string | number | boolean | null;

/** The IR of the examples golden file: a known-good config to break in small ways. */
function good(): { [key: string]: Json } {
  const out = yaml.load(readFileSync(join(import.meta.dirname, '../../testdata/examples.out.yaml'), 'utf8')) as {
    ir: { [key: string]: Json };
  };
  return out.ir;
}

function at(value: Json, ...path: (string | number)[]): { [key: string]: Json } {
  let cur: Json = value;
  for (const p of path) cur = (cur as { [key: string]: Json } & Json[])[p as never] as Json;
  return cur as { [key: string]: Json };
}

function errorsOf(ir: unknown): readonly string[] {
  const r = validateIR(ir);
  return r.ok ? [] : r.errors;
}

describe('validateIR', () => {
  it('accepts the IR of the examples', () => {
    expect(errorsOf(good())).toEqual([]);
  });

  it.each([
    ['not an object', () => 42, /^ir: /],
    ['a port out of range', (ir: Json) => void (at(ir, 'gateways', 0, 'listeners', 0).port = 70000), /listeners\[0\]\.port/],
    ['a negative weight', (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'backends', 0).weight = -1), /backends\[0\]\.weight/],
    [
      'a negative ms value',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'queue', 'deadline').defaultMs = -5),
      /deadline\.defaultMs/,
    ],
    [
      'a backend that does not exist',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'backends', 0).backend = 'jarvis/nope:1'),
      /no backend jarvis\/nope:1/,
    ],
    [
      'a fallback backend that does not exist',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation', 'fallback', 'chain', 1).backend = 'jarvis/x:1'),
      /fallback\.chain\[1\]\.backend: no backend/,
    ],
    [
      'backends out of order',
      (ir: Json) => void (at(ir, 'backends') as unknown as Json[]).reverse(),
      /backends\[1\]: backend .* is not sorted/,
    ],
    [
      'a duplicate gateway',
      (ir: Json) => void (at(ir, 'gateways') as unknown as Json[]).push(at(ir, 'gateways', 0)),
      /gateways\[1\]: duplicate gateway/,
    ],
    [
      'a match table out of order',
      (ir: Json) => void (at(ir, 'gateways', 0, 'matchOrder') as unknown as Json[]).reverse(),
      /not in precedence order/,
    ],
    [
      'a match table missing a match',
      (ir: Json) => void (at(ir, 'gateways', 0, 'matchOrder') as unknown as Json[]).pop(),
      /matchOrder: lists 2 of the 3/,
    ],
    [
      'a regular expression that does not compile',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'matches', 0).path = { type: 'RegularExpression', value: '([a-z' }),
      /invalid regular expression/,
    ],
    [
      'a listener the gateway does not have',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0).listeners = ['https']),
      /no listener https/,
    ],
    [
      'a burst on a sliding window',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'rateLimit', 'levels', 1).burst = 10),
      /levels\[1\]\.burst: required exactly for TokenBucket and GCRA/,
    ],
    [
      'a trigger deactivating above its activation',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation', 'triggers', 0, 'latency').deactivateMs = 9999),
      /deactivateMs: must be lower than activateMs/,
    ],
    [
      'a shed rule naming a trigger the policy does not have',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation', 'shedPriorityClasses', 0).triggers = ['nope']),
      /degradation\.shedPriorityClasses\[0\]\.triggers\[0\]: no trigger nope/,
    ],
    [
      'shed classes out of order',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation', 'shedPriorityClasses', 0).classes = ['standard', 'batch']),
      /shedPriorityClasses\[0\]\.classes\[1\]: class batch is not sorted/,
    ],
    [
      'a shed rule twice',
      (ir: Json) => {
        const d = at(ir, 'gateways', 0, 'routes', 0, 'degradation');
        d.shedPriorityClasses = [...(d.shedPriorityClasses as Json[]), ...(d.shedPriorityClasses as Json[])];
      },
      /shedPriorityClasses\[1\]: duplicate rule/,
    ],
    [
      'a feature header the gateway owns (it would replace the framing or the identity)',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation').featureHeader = 'content-length'),
      /degradation\.featureHeader: content-length is a header the gateway owns/,
    ],
    [
      'a feature header forging the verified tenant',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 0, 'degradation').featureHeader = 'x-tenant-id'),
      /featureHeader: x-tenant-id/,
    ],
    [
      'a backend timeout longer than the request timeout',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 1, 'timeouts').backendRequestMs = 6000),
      /routes\[1\]\.timeouts\.backendRequestMs: must not exceed requestMs/,
    ],
    [
      'a retry backoff whose base exceeds its max',
      (ir: Json) => void (at(ir, 'backends', 1, 'circuitBreaker', 'retry', 'backoff').baseMs = 600),
      /backends\[1\]\.circuitBreaker\.retry\.backoff\.baseMs: must not exceed maxMs/,
    ],
    [
      'a panic threshold over 100 percent',
      (ir: Json) => void (at(ir, 'backends', 1, 'circuitBreaker').panicThresholdPercent = 101),
      /panicThresholdPercent/,
    ],
    [
      'cache coalescing across replicas without the Redis level',
      (ir: Json) => {
        const cache = at(ir, 'gateways', 0, 'routes', 1, 'cache');
        at(cache, 'l2').enabled = false;
        at(cache, 'coalescing').acrossReplicas = true;
      },
      /routes\[1\]\.cache\.coalescing\.acrossReplicas: needs l2\.enabled/,
    ],
    [
      'an unknown cache isolation scope',
      (ir: Json) => void (at(ir, 'gateways', 0, 'routes', 1, 'cache', 'key').isolation = 'Session'),
      /isolation/,
    ],
    [
      'an identity with a trusted proxy that is no address',
      (ir: Json) => void (at(ir, 'gateways', 0, 'identity').trustedProxies = ['10.0.0.0/8', 'ten'] as unknown as Json),
      /gateways\[0\]\.identity\.trustedProxies\[1\]: "ten" is not an IPv4 or IPv6 address or CIDR/,
    ],
    [
      'an identity with private key material in a JWKS',
      (ir: Json) => void (at(ir, 'gateways', 0, 'identity', 'jwt', 'providers', 0, 'keys', 'keys', 0).d = 'c2VjcmV0'),
      /identity\.jwt\.providers\[0\]\.keys\.keys\[0\]: holds private or symmetric key material \(d\)/,
    ],
    [
      'an identity with a key in plain text instead of its digest',
      (ir: Json) => void (at(ir, 'gateways', 0, 'identity', 'apiKeys', 'keys', 0).sha256 = 'jarvis-example-acme-ingest-4b1d9c2e7f30a5d8'),
      /identity\/apiKeys\/keys\/0\/sha256|identity\.apiKeys\.keys\[0\]\.sha256/,
    ],
    [
      'an unknown policy kind',
      (ir: Json) => void (at(ir, 'gateways', 0, 'policies', 0).kind = 'FooPolicy'),
      /policies\/0\/kind|policies\[0\]\.kind/,
    ],
  ] as const)('rejects %s', (_what, mutate, expected) => {
    const ir = good();
    const result = mutate(ir);
    expect(errorsOf(result ?? ir).join('\n')).toMatch(expected);
  });

  it('rejects Infinity and NaN', () => {
    const ir = good();
    at(ir, 'gateways', 0, 'routes', 0, 'queue', 'deadline').maxMs = Infinity;
    expect(errorsOf(ir).join('\n')).toMatch(/deadline\.maxMs/);
  });
});

describe('validateGatewayResource / validateBackendResource', () => {
  it('check one resource alone', () => {
    const ir = good();
    const gw = validateGatewayResource(at(ir, 'gateways', 0));
    expect(gw.ok).toBe(true);
    const be = validateBackendResource(at(ir, 'backends', 0));
    expect(be.ok).toBe(true);
  });

  it('report what is wrong in one resource', () => {
    const ir = good();
    const backend = at(ir, 'backends', 0);
    backend.id = 'jarvis/other:1';
    const r = validateBackendResource(backend);
    expect(r.ok ? [] : r.errors).toEqual(['backend.id: must be jarvis/chat-api:8000']);
    const gw = validateGatewayResource({ id: 'x', listeners: [], routes: [], matchOrder: [], policies: [] });
    expect(gw.ok ? [] : gw.errors).toEqual(['gateway.id: must be <namespace>/<name>']);
    expect(validateGatewayResource(null).ok).toBe(false);
  });

  it('check breaker invariants of a backend', () => {
    const backend = at(good(), 'backends', 2);
    const hc = at(backend, 'circuitBreaker', 'activeHealthCheck');
    hc.timeoutMs = hc.intervalMs as number;
    const r = validateBackendResource(backend);
    expect(r.ok ? [] : r.errors).toEqual(['backend.circuitBreaker.activeHealthCheck.timeoutMs: must be lower than intervalMs']);
  });
});
