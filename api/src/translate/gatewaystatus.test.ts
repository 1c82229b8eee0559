/** The status the translator gives our GatewayClasses and Gateways: listeners, route kinds, attached routes, conflicts. */
import { describe, expect, it } from 'vitest';
import { CONTROLLER_NAME } from './constants.js';
import { translate } from './translate.js';

const gw = (listeners: unknown[]) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'ns', generation: 4 },
  spec: { gatewayClassName: 'ours', listeners },
});
const route = (name: string, sectionName?: string) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'ns' },
  spec: {
    parentRefs: [{ name: 'gw', ...(sectionName ? { sectionName } : {}) }],
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/${name}` } }] }],
  },
});
const classes = [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'ours', generation: 2 },
    spec: { controllerName: CONTROLLER_NAME },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'theirs' },
    spec: { controllerName: 'example.com/other' },
  },
];

describe('gateway status', () => {
  it('accepts our GatewayClasses only', () => {
    const r = translate({ objects: classes }, { controllerName: CONTROLLER_NAME });
    expect(r.gatewayClasses).toEqual([
      { name: 'ours', generation: 2, accepted: { status: true, reason: 'Accepted', message: `Handled by ${CONTROLLER_NAME}.` } },
    ]);
  });

  it('counts the HTTPRoutes attached through each listener, and says which listeners are not valid', () => {
    const objects = [
      ...classes,
      gw([
        { name: 'a', port: 80, protocol: 'HTTP' },
        { name: 'b', port: 8080, protocol: 'HTTP', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }, { kind: 'GRPCRoute' }] } },
        { name: 'tls', port: 443, protocol: 'HTTPS' },
      ]),
      route('one'),
      route('two', 'a'),
      route('three', 'tls'),
    ];
    const [g] = translate({ objects }, { controllerName: CONTROLLER_NAME }).gateways;
    expect(g).toMatchObject({
      namespace: 'ns',
      name: 'gw',
      generation: 4,
      accepted: { status: true, reason: 'ListenersNotValid', message: 'Accepted; listeners not valid: b, tls.' },
    });
    expect(g?.listeners.map((l) => [l.name, l.attachedRoutes, l.supportedKinds.length, l.accepted.reason, l.resolvedRefs.reason])).toEqual([
      ['a', 2, 1, 'Accepted', 'ResolvedRefs'],
      ['b', 1, 1, 'Accepted', 'InvalidRouteKinds'],
      ['tls', 0, 0, 'UnsupportedProtocol', 'ResolvedRefs'],
    ]);
    expect(g?.listeners[1]?.resolvedRefs.message).toContain('gateway.networking.k8s.io/GRPCRoute');
  });

  it('marks listeners that share a port and hostname as conflicted, and a Gateway without a valid listener as not accepted', () => {
    const twins = translate(
      {
        objects: [
          ...classes,
          gw([
            { name: 'x', port: 80, protocol: 'HTTP' },
            { name: 'y', port: 80, protocol: 'HTTP' },
          ]),
        ],
      },
      { controllerName: CONTROLLER_NAME },
    ).gateways[0];
    expect(twins?.listeners.map((l) => l.conflicted)).toEqual([
      {
        status: true,
        reason: 'HostnameConflict',
        message: 'Listener y uses the same port 80 and hostname (any); their routes are served together.',
      },
      {
        status: true,
        reason: 'HostnameConflict',
        message: 'Listener x uses the same port 80 and hostname (any); their routes are served together.',
      },
    ]);
    const none = translate(
      { objects: [...classes, gw([{ name: 't', port: 443, protocol: 'HTTPS' }])] },
      { controllerName: CONTROLLER_NAME },
    );
    expect(none.gateways[0]?.accepted).toEqual({ status: false, reason: 'ListenersNotValid', message: 'No listener is valid.' });
  });
});
