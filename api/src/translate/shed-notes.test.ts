/**
 * DegradationPolicy shedPriorityClasses through the translator: the IR carries the rules sorted and
 * deduplicated; the classes are checked against each route's QueuePolicy, and what cannot be shed
 * somewhere is said on the policy's status without refusing it.
 */
import { describe, expect, it } from 'vitest';
import { validateIR } from '../ir/validate.js';
import { CONTROLLER_NAME } from './constants.js';
import { translate } from './translate.js';

const NS = 'ns';

const base = [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'jarvis' },
    spec: { controllerName: CONTROLLER_NAME },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'gw', namespace: NS },
    spec: { gatewayClassName: 'jarvis', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] },
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'up', namespace: NS }, spec: { ports: [{ name: 'http', port: 80 }] } },
];

const httpRoute = (name: string, rules = 1) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: NS },
  spec: {
    parentRefs: [{ name: 'gw' }],
    rules: Array.from({ length: rules }, (_, i) => ({
      matches: [{ path: { value: `/${name}/${i}` } }],
      backendRefs: [{ name: 'up', port: 80 }],
    })),
  },
});

const routeRef = (name: string) => ({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name });

const queuePolicy = (name: string, routes: string[], classes: string[]) => ({
  apiVersion: 'stability.jarvis.io/v1alpha1',
  kind: 'QueuePolicy',
  metadata: { name, namespace: NS },
  spec: {
    targetRefs: routes.map(routeRef),
    maxInFlight: 4,
    ...(classes.length > 0
      ? {
          priorityClasses: classes.map((c, i) => ({ name: c, priority: 100 - i, match: { tenants: [`t-${c}`] } })),
        }
      : {}),
  },
});

const degradation = (name: string, targetRefs: object[], shed: { triggers: string[]; classes: string[] }[], extra: object = {}) => ({
  apiVersion: 'stability.jarvis.io/v1alpha1',
  kind: 'DegradationPolicy',
  metadata: { name, namespace: NS },
  spec: {
    targetRefs,
    triggers: [
      { name: 'slow', type: 'LatencyP95', latency: { activate: '2s', deactivate: '1s' } },
      { name: 'errors', type: 'ErrorRate', percent: { activate: 50, deactivate: 20 } },
    ],
    shedPriorityClasses: shed,
    ...extra,
  },
});

function run(objects: object[]) {
  const result = translate({ objects: [...base, ...objects] }, { controllerName: CONTROLLER_NAME });
  const checked = validateIR(JSON.parse(JSON.stringify(result.ir)));
  expect(checked.ok ? [] : checked.errors).toEqual([]);
  const routes = new Map(result.ir.gateways.flatMap((g) => g.routes).map((r) => [r.id, r]));
  const policy = (name: string) => result.policies.find((p) => p.ref.kind === 'DegradationPolicy' && p.ref.name === name);
  return { result, routes, policy };
}

describe('DegradationPolicy shedPriorityClasses → IR', () => {
  it('carries the rules with sorted, unique lists, sorted by classes then triggers, without duplicate rules', () => {
    const { routes, policy } = run([
      httpRoute('chat'),
      queuePolicy('q', ['chat'], ['vip', 'standard', 'batch']),
      degradation(
        'shed',
        [routeRef('chat')],
        [
          { triggers: ['slow', 'errors'], classes: ['standard', 'batch'] },
          { triggers: ['errors'], classes: ['batch'] },
          { triggers: ['errors', 'slow'], classes: ['batch', 'standard'] },
        ],
      ),
    ]);
    expect(routes.get('ns/chat/rule-0')?.degradation?.shedPriorityClasses).toEqual([
      { triggers: ['errors'], classes: ['batch'] },
      { triggers: ['errors', 'slow'], classes: ['batch', 'standard'] },
    ]);
    expect(policy('shed')?.accepted).toEqual({ status: true, reason: 'Accepted', message: 'accepted' });
    expect(policy('shed')?.findings).toEqual([]);
    expect(policy('shed')?.features).toContain('stability.jarvis.io/DegradationPolicy.shedPriorityClasses');
  });

  it('leaves the IR without the section when the policy has none', () => {
    const { shedPriorityClasses: _, ...spec } = degradation('toggles', [routeRef('chat')], [], {
      featureToggles: [{ name: 'rerank', disableWhen: ['slow'] }],
    }).spec;
    const { routes, policy } = run([httpRoute('chat'), { ...degradation('toggles', [], []), spec }]);
    expect(policy('toggles')?.accepted.status).toBe(true);
    expect(routes.get('ns/chat/rule-0')?.degradation).toBeDefined();
    expect(routes.get('ns/chat/rule-0')?.degradation).not.toHaveProperty('shedPriorityClasses');
    expect(policy('toggles')?.features).not.toContain('stability.jarvis.io/DegradationPolicy.shedPriorityClasses');
  });
});

describe('DegradationPolicy shedPriorityClasses → status', () => {
  it('stays Accepted and names the routes without a QueuePolicy, where nothing is shed', () => {
    const { routes, policy } = run([
      httpRoute('chat', 2),
      degradation('shed', [routeRef('chat')], [{ triggers: ['slow'], classes: ['batch'] }]),
    ]);
    // The rules still reach the gateway (a QueuePolicy may come later); they shed nothing there now.
    expect(routes.get('ns/chat/rule-0')?.degradation?.shedPriorityClasses).toEqual([{ triggers: ['slow'], classes: ['batch'] }]);
    const p = policy('shed');
    expect(p?.accepted.status).toBe(true);
    expect(p?.accepted.reason).toBe('Accepted');
    expect(p?.findings).toEqual([
      {
        path: 'spec.shedPriorityClasses',
        message: 'nothing is shed on routes ns/chat/rule-0, ns/chat/rule-1: no QueuePolicy applies there',
      },
    ]);
    expect(p?.accepted.message).toBe(
      'accepted; spec.shedPriorityClasses: nothing is shed on routes ns/chat/rule-0, ns/chat/rule-1: no QueuePolicy applies there',
    );
  });

  it('names each class the route’s queue does not have, with the queue and its classes, by rule', () => {
    const { policy } = run([
      httpRoute('chat'),
      httpRoute('fifo'),
      queuePolicy('q', ['chat'], ['vip', 'standard']),
      queuePolicy('plain', ['fifo'], []),
      degradation(
        'shed',
        [routeRef('chat'), routeRef('fifo')],
        [
          { triggers: ['slow'], classes: ['standard'] },
          { triggers: ['errors'], classes: ['bulk', 'batch', 'standard'] },
        ],
      ),
    ]);
    const p = policy('shed');
    expect(p?.accepted).toMatchObject({ status: true, reason: 'Accepted' });
    expect(p?.findings).toEqual([
      {
        path: 'spec.shedPriorityClasses',
        message: 'nothing is shed on route ns/fifo/rule-0: QueuePolicy ns/plain there has no priority classes',
      },
      {
        path: 'spec.shedPriorityClasses[1].classes',
        message:
          'batch is not a priority class of QueuePolicy ns/q (vip, standard), which applies to route ns/chat/rule-0: it is not shed there',
      },
      {
        path: 'spec.shedPriorityClasses[1].classes',
        message:
          'bulk is not a priority class of QueuePolicy ns/q (vip, standard), which applies to route ns/chat/rule-0: it is not shed there',
      },
    ]);
    for (const f of p?.findings ?? []) expect(p?.accepted.message).toContain(`${f.path}: ${f.message}`);
  });

  it('reports where the settings are written (spec.defaults) and names at most five routes per problem', () => {
    const routeNames = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const { policy } = run([
      ...routeNames.map((n) => httpRoute(n)),
      {
        apiVersion: 'stability.jarvis.io/v1alpha1',
        kind: 'DegradationPolicy',
        metadata: { name: 'gw-defaults', namespace: NS },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }],
          defaults: {
            triggers: [{ name: 'cpu', type: 'CPU', percent: { activate: 90, deactivate: 70 } }],
            shedPriorityClasses: [{ triggers: ['cpu'], classes: ['batch'] }],
          },
        },
      },
    ]);
    expect(policy('gw-defaults')?.findings).toEqual([
      {
        path: 'spec.defaults.shedPriorityClasses',
        message:
          'nothing is shed on routes ns/a/rule-0, ns/b/rule-0, ns/c/rule-0, ns/d/rule-0, ns/e/rule-0 and 2 more: no QueuePolicy applies there',
      },
    ]);
  });

  it('is silent where every class exists, and notes nothing for a policy that is not Accepted', () => {
    const { policy } = run([
      httpRoute('chat'),
      queuePolicy('q', ['chat'], ['vip', 'batch']),
      degradation('fine', [routeRef('chat')], [{ triggers: ['slow'], classes: ['batch'] }]),
      degradation('lost', [routeRef('missing')], [{ triggers: ['slow'], classes: ['nope'] }]),
    ]);
    expect(policy('fine')?.accepted.message).toBe('accepted');
    expect(policy('lost')?.accepted.reason).toBe('TargetNotFound');
    expect(policy('lost')?.findings.some((f) => f.path.includes('shedPriorityClasses'))).toBe(false);
  });
});
