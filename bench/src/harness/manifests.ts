/**
 * Manifests for a gateway in standalone mode (`--config DIR`), in the same form as examples/:
 * the benchmark's platform, and EndpointSlices that point Services at mock upstreams on
 * loopback through `<service>.localhost` (RFC 6761: the gateway resolves it to loopback).
 */
import { CONTROLLER_NAME } from '@jarvis/api';

import type { YamlValue } from './yaml.js';

export const BENCH_NAMESPACE = 'bench';
export const BENCH_SERVICE = 'bench-upstream';
/** The fallback variant's primary: a mock that answers 503 at once, before BENCH_SERVICE in the chain. */
export const BENCH_PRIMARY = 'bench-primary';

export interface ServiceEndpoint {
  namespace: string;
  /** Service name; the endpoint address is `<name>.localhost`. */
  service: string;
  /** The Service port's name the slice's port matches (`http` in examples/). */
  portName?: string;
  /** Where the mock listens. */
  port: number;
}

/** An EndpointSlice with one ready FQDN endpoint `<service>.localhost` on the mock's port. */
export function endpointSlice(e: ServiceEndpoint): YamlValue {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${e.service}-local`, namespace: e.namespace, labels: { 'kubernetes.io/service-name': e.service } },
    addressType: 'FQDN',
    ports: [{ name: e.portName, port: e.port, protocol: 'TCP' }],
    endpoints: [{ addresses: [`${e.service}.localhost`], conditions: { ready: true } }],
  };
}

export const BENCH_VARIANTS = [
  'routing',
  'limits_memory',
  'limits_redis',
  'limits_redis_unbatched',
  'cache_hit',
  'cache_miss',
  'cache_miss_redis',
  'fallback',
] as const;
export type BenchVariant = (typeof BENCH_VARIANTS)[number];

/** Whether a variant uses Redis (its limits, or its cache's second level). */
export const onRedis = (v: BenchVariant): boolean => v === 'limits_redis' || v === 'limits_redis_unbatched' || v === 'cache_miss_redis';

/** Whether a variant is a response cache one (a CachePolicy on the route, no limits). */
export const caching = (v: BenchVariant): v is 'cache_hit' | 'cache_miss' | 'cache_miss_redis' => v.startsWith('cache_');

/**
 * Extra load-generator flags per variant: the cache-miss variants make every request distinct
 * (a unique query parameter per request and per load-generator run), so that every one misses,
 * goes upstream and has its answer stored; the cache-hit variant sends one request over and over.
 */
export function benchLoadArgs(v: BenchVariant): string[] {
  return v === 'cache_miss' || v === 'cache_miss_redis' ? ['--unique-query', 'n'] : [];
}

/**
 * Extra gateway flags per variant: the unbatched Redis variant sends one EVALSHA per request
 * (`--redis-max-batch 1`), the literal "one round trip per request", to compare with the default
 * where the checks of one event-loop turn share a round trip.
 */
export function benchGatewayArgs(v: BenchVariant): string[] {
  return v === 'limits_redis_unbatched' ? ['--redis-max-batch', '1'] : [];
}

/** Headers the benchmark's requests carry: the keys of the user and tenant levels. */
export const BENCH_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'x-user-id': 'bench-user', 'x-tenant-id': 'bench-tenant' });

const NEVER_REJECT = { algorithm: 'TokenBucket', rate: { requests: 1_000_000_000, per: '1s' }, burst: 1_000_000_000 } as const;

/**
 * The benchmark's platform: one Gateway of class jarvis, one HTTPRoute `/` → the upstream
 * Service, its EndpointSlice, and for the limit variants one RateLimitPolicy with four levels
 * (Route, ClientIP, user and tenant keyed by header) whose limits never reject; for the cache
 * variants one CachePolicy caching GET for an hour, shared by every caller, in L1 only or (the
 * Redis miss variant) in L1 and Redis; for the fallback variant a DegradationPolicy whose chain
 * sends to BENCH_PRIMARY (on `primaryPort`: 503 at once) and then to the upstream.
 */
export function benchManifests(variant: BenchVariant, upstreamPort: number, primaryPort?: number): YamlValue[] {
  const ns = BENCH_NAMESPACE;
  const docs: YamlValue[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: 'jarvis' },
      spec: { controllerName: CONTROLLER_NAME },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'bench-gateway', namespace: ns },
      spec: {
        gatewayClassName: 'jarvis',
        listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'Same' } } }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: BENCH_SERVICE, namespace: ns },
      spec: { ports: [{ name: 'http', port: 80, targetPort: upstreamPort }] },
    },
    endpointSlice({ namespace: ns, service: BENCH_SERVICE, portName: 'http', port: upstreamPort }),
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'bench', namespace: ns },
      spec: {
        parentRefs: [{ name: 'bench-gateway', sectionName: 'http' }],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: BENCH_SERVICE, port: 80 }] }],
      },
    },
  ];
  if (variant === 'fallback') {
    if (primaryPort === undefined) throw new Error('the fallback variant needs the port of its primary');
    docs.push(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: BENCH_PRIMARY, namespace: ns },
        spec: { ports: [{ name: 'http', port: 80, targetPort: primaryPort }] },
      },
      endpointSlice({ namespace: ns, service: BENCH_PRIMARY, portName: 'http', port: primaryPort }),
      {
        apiVersion: 'stability.jarvis.io/v1alpha1',
        kind: 'DegradationPolicy',
        metadata: { name: 'bench-fallback', namespace: ns },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'bench' }],
          fallback: {
            chain: [
              { name: 'primary', backendRef: { name: BENCH_PRIMARY, port: 80 } },
              { name: 'second', backendRef: { name: BENCH_SERVICE, port: 80 } },
            ],
          },
        },
      },
    );
  } else if (caching(variant)) {
    docs.push({
      apiVersion: 'stability.jarvis.io/v1alpha1',
      kind: 'CachePolicy',
      metadata: { name: 'bench-cache', namespace: ns },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'bench' }],
        ttl: '1h',
        methods: ['GET'],
        key: { isolation: 'None' },
        l2: { enabled: variant === 'cache_miss_redis' },
      },
    });
  } else if (variant !== 'routing') {
    docs.push({
      apiVersion: 'stability.jarvis.io/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'bench-limits', namespace: ns },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'bench' }],
        limits: [
          { name: 'route', scope: 'Route', ...NEVER_REJECT },
          { name: 'client-ip', scope: 'ClientIP', ...NEVER_REJECT },
          { name: 'user', scope: 'Header', header: 'x-user-id', ...NEVER_REJECT },
          { name: 'tenant', scope: 'Header', header: 'x-tenant-id', ...NEVER_REJECT },
        ],
        store: onRedis(variant) ? 'Redis' : 'Memory',
        failureMode: { mode: 'Open', timeout: '50ms' },
      },
    });
  }
  return docs;
}
