import { describe, expect, it } from 'vitest';
import type { Catalog } from './catalog.js';
import { semanticFindings } from './checks.js';
import type { PolicyModel } from './model.js';

const model = (featureHeader: string): PolicyModel =>
  ({
    kind: 'DegradationPolicy',
    meta: { namespace: 'ns', name: 'rag', generation: 1, labels: {} },
    policy: {
      apiVersion: 'stability.jarvis.io/v1alpha1',
      kind: 'DegradationPolicy',
      metadata: { name: 'rag', namespace: 'ns' },
      spec: { targetRefs: [], featureToggles: [{ name: 'rerank', enabled: false }], featureHeader },
    },
    attachment: { role: 'defaults', strategy: 'Atomic', path: 'spec' },
  }) as unknown as PolicyModel;

describe('DegradationPolicy featureHeader', () => {
  it('may not name a header the gateway owns (framing, identity, forwarding)', () => {
    for (const h of ['Content-Length', 'host', 'x-tenant-id', 'X-Forwarded-For', 'transfer-encoding', 'x-jarvis-deadline'])
      expect(semanticFindings({} as Catalog, model(h)), h).toEqual([
        { path: 'spec.featureHeader', message: expect.stringContaining('is a header the gateway owns') },
      ]);
    expect(semanticFindings({} as Catalog, model('x-jarvis-features'))).toEqual([]);
    expect(semanticFindings({} as Catalog, model('x-app-flags'))).toEqual([]);
  });
});
