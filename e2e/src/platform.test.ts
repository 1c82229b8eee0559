import { load, loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { platformYaml } from './platform.js';

describe('platformYaml', () => {
  it('writes the GatewayClass, Gateway, Service, EndpointSlice and HTTPRoute asked for', () => {
    const docs = loadAll(
      platformYaml({
        namespace: 'ns',
        gatewayClass: true,
        gateway: 'edge',
        sameNamespaceRoutes: true,
        service: 'up',
        route: 'api',
        pathPrefix: '/api',
        endpoint: { host: 'up.localhost', port: 9000 },
      }),
    ) as { kind: string; metadata: { name: string }; spec?: Record<string, unknown>; ports?: unknown; endpoints?: unknown }[];
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'GatewayClass/jarvis',
      'Gateway/edge',
      'Service/up',
      'EndpointSlice/up-1',
      'HTTPRoute/api',
    ]);
    expect(docs[1]?.spec?.['listeners']).toEqual([
      { name: 'http', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'Same' } } },
    ]);
    expect(docs[3]?.ports).toEqual([{ name: 'http', port: 9000 }]);
    expect(docs[3]?.endpoints).toEqual([{ addresses: ['up.localhost'] }]);
    expect(docs[4]?.spec?.['rules']).toEqual([
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'up', port: 80 }] },
    ]);
  });

  it('leaves out what is not asked for: no class, no slice, a route for every path', () => {
    const text = platformYaml({ namespace: 'ns', gateway: 'g', service: 's', route: 'r' });
    const docs = loadAll(text) as { kind: string; spec?: Record<string, unknown> }[];
    expect(docs.map((d) => d.kind)).toEqual(['Gateway', 'Service', 'HTTPRoute']);
    expect(docs[2]?.spec?.['rules']).toEqual([{ backendRefs: [{ name: 's', port: 80 }] }]);
    expect(load(text.split('---\n')[0] ?? '')).toMatchObject({ spec: { listeners: [{ port: 8080 }] } });
  });
});
