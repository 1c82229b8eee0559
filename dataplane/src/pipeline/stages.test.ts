/**
 * What the gateway announces it enforces (xDS node client_features) is what its registered stages
 * declare, and the docs' per-kind "enforced" flag (api/src/schema/kinds.ts, from which the CRD
 * descriptions, the reference and the README checks are made) says the same.
 */
import { KINDS, allFeatures, kindFeature, type PolicyKind } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { PROXY_FEATURES } from '../proxy/stage.js';
import { FRONT_FEATURES, ROUTE_STAGES, enforcedFeatures } from './stages.js';

describe('enforced features', () => {
  it('are the features the front, registered route and proxy stages declare, each a known feature; those that need Redis only with Redis', () => {
    const declared = [...new Set([...FRONT_FEATURES, ...ROUTE_STAGES.flatMap((f) => f.features), ...PROXY_FEATURES])].sort();
    const withRedis = [...new Set([...declared, ...ROUTE_STAGES.flatMap((f) => f.redisFeatures ?? [])])].sort();
    expect(enforcedFeatures()).toEqual(withRedis);
    expect(enforcedFeatures({ redis: true })).toEqual(withRedis);
    expect(enforcedFeatures({ redis: false })).toEqual(declared);
    for (const f of enforcedFeatures()) expect(allFeatures()).toContain(f);
    // Async jobs and dead letters live in Redis: a gateway without it does not claim them.
    expect(enforcedFeatures({ redis: true })).toEqual(
      expect.arrayContaining(['stability.jarvis.io/QueuePolicy.async', 'stability.jarvis.io/QueuePolicy.deadLetter']),
    );
    expect(enforcedFeatures({ redis: false })).not.toContain('stability.jarvis.io/QueuePolicy.async');
    expect(enforcedFeatures({ redis: false })).toContain('stability.jarvis.io/QueuePolicy');
  });

  it('agree with the docs: a kind is documented as enforced exactly when the gateway announces it', () => {
    const announced = new Set(enforcedFeatures());
    for (const k of KINDS)
      expect({ kind: k.kind, enforced: announced.has(kindFeature(k.kind as PolicyKind)) }).toEqual({ kind: k.kind, enforced: k.enforced });
  });
});
