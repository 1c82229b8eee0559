/**
 * What the gateway announces it enforces (xDS node client_features) is what its registered stages
 * declare, and the docs' per-kind "enforced" flag (api/src/schema/kinds.ts, from which the CRD
 * descriptions, the reference and the README checks are made) says the same.
 */
import { KINDS, allFeatures, kindFeature, type PolicyKind } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { FRONT_FEATURES, ROUTE_STAGES, enforcedFeatures } from './stages.js';

describe('enforced features', () => {
  it('are the features the registered stages declare (front and route), each a known feature', () => {
    const declared = [...new Set([...FRONT_FEATURES, ...ROUTE_STAGES.flatMap((f) => f.features)])].sort();
    expect(enforcedFeatures()).toEqual(declared);
    for (const f of enforcedFeatures()) expect(allFeatures()).toContain(f);
  });

  it('agree with the docs: a kind is documented as enforced exactly when the gateway announces it', () => {
    const announced = new Set(enforcedFeatures());
    for (const k of KINDS)
      expect({ kind: k.kind, enforced: announced.has(kindFeature(k.kind as PolicyKind)) }).toEqual({ kind: k.kind, enforced: k.enforced });
  });
});
