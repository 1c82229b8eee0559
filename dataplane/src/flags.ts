/** Command-line flags of jarvis-gateway, validated at the edge. */
import { FlagError, parseDurationMs, parseHostPort, readFlags } from '@jarvis/api';
import { redactUrl } from './observe/redact.js';
import { MAX_BATCH_OPS } from './policy/ratelimit/redis-store.js';

export { FlagError };

type HostPort = { readonly host: string; readonly port: number };

export interface GatewayFlags {
  readonly listen: HostPort;
  readonly adminListen: HostPort;
  readonly mode: { readonly kind: 'xds'; readonly target: string } | { readonly kind: 'files'; readonly dir: string };
  readonly gateway: string | undefined;
  readonly nodeId: string;
  readonly stateDir: string | undefined;
  readonly redis: string | undefined;
  readonly redisMaxBatch: number;
  /** The longest a rate-limit check (a policy's failureMode.timeout may be shorter) or a cache call waits for Redis. */
  readonly redisTimeoutMs: number;
  readonly identity: string | undefined;
  readonly xdsTls: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string } | undefined;
  readonly maxBodyBytes: number;
  readonly inspectBodyBytes: number;
  /** Bodies up to this are read completely before the request goes upstream. */
  readonly requestBufferBytes: number;
  /** A buffered body must arrive within this; a streamed one may pause at most this long. */
  readonly requestBodyTimeoutMs: number;
  /** All request bodies held in memory at once. */
  readonly maxBufferedBytes: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly connectionsPerEndpoint: number;
  readonly maxLimiterKeys: number;
  /** An async job entry idle this long belongs to a stopped gateway and is taken over. */
  readonly jobReclaimAfterMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const USAGE = `Usage: jarvis-gateway (--xds HOST:PORT --gateway NS/NAME | --config DIR) [flags]

  --xds HOST:PORT            get config from the operator over ADS
  --gateway NS/NAME          the Gateway this process serves (required with --xds; with --config
                             only when the directory holds several of our Gateways)
  --config DIR               standalone: YAML manifests like examples/, reloaded on change
  --listen HOST:PORT         traffic listener (default 0.0.0.0:8080)
  --admin-listen HOST:PORT   /healthz, /readyz, /metrics, /admin/* (default 127.0.0.1:9901)
  --state-dir DIR            keep the last good config here; start from it when the operator is unreachable
  --redis URL                Redis for shared limits and the cache's second level (default:
                             $REDIS_URL; none: failure modes apply, caches are in-process only)
  --redis-max-batch N        rate-limit checks started in one event-loop turn share one round trip
                             (one EVALSHA), up to N of them (default 256; 1: one EVALSHA per check)
  --redis-timeout DURATION   the longest a rate-limit check waits for Redis before its policy's
                             failure mode applies (a policy's own timeout may be shorter), and a
                             cache call before the cache goes on without Redis (default 200ms,
                             at most 10s)
  --identity FILE            JWT / API key / trusted-proxy settings (YAML)
  --node-id NAME             xDS node id (default: $POD_NAME or hostname-pid)
  --xds-tls-ca FILE          talk TLS to the operator, trusting this CA; --xds-tls-cert/--xds-tls-key for mTLS
  --max-body-bytes N         largest request body (default 10485760)
  --inspect-body-bytes N     largest body read into memory on routes whose policies look inside
                             it (LLM model, prompt hash, token costs; default 4194304)
  --request-buffer-bytes N   request bodies up to N bytes are read completely before the request
                             goes upstream, so a slow client never holds an upstream connection;
                             larger bodies stream (default 1048576)
  --request-body-timeout DURATION  a buffered body must arrive within this (else 408); a streamed
                             body may pause at most this long (default 30s)
  --max-buffered-bytes N     request bodies held in memory at once, all requests together; when
                             full, requests with bodies get 503 with Retry-After (default 268435456)
  --upstream-headers-timeout DURATION   the upstream's head must come within this once the request
                             went out (else 504; default 60s)
  --upstream-body-timeout DURATION      idle time between body chunks, not counting time the client
                             is slow to read (default 300s); both are checked every eighth of the
                             shorter one (at most every 500ms)
  --drain-timeout DURATION   on SIGTERM, wait this long for in-flight requests (default 10s)
  --connections N            connections per upstream endpoint (default 128)
  --max-limiter-keys N       in-memory limiter keys kept (LRU; default 1000000)
  --job-reclaim-after DURATION   an async job held by a gateway that stopped is taken over by
                             another after this long without its heartbeat (default 15s, 1s-10m)
  --log-level LEVEL          debug | info | warn | error (default info)
`;

const VALUE_FLAGS = new Set([
  'xds',
  'gateway',
  'config',
  'listen',
  'admin-listen',
  'state-dir',
  'redis',
  'redis-max-batch',
  'redis-timeout',
  'identity',
  'node-id',
  'xds-tls-ca',
  'xds-tls-cert',
  'inspect-body-bytes',
  'request-buffer-bytes',
  'request-body-timeout',
  'max-buffered-bytes',
  'xds-tls-key',
  'max-body-bytes',
  'upstream-headers-timeout',
  'upstream-body-timeout',
  'drain-timeout',
  'connections',
  'max-limiter-keys',
  'job-reclaim-after',
  'log-level',
]);

/** A duration from 1 ms to `maxMs`. */
function boundedDuration(value: string, flag: string, maxMs: number): number {
  const ms = parseDurationMs(value, flag);
  if (ms < 1 || ms > maxMs) throw new FlagError(`${flag}: expected from 1ms to ${maxMs / 1000}s, got ${JSON.stringify(value)}`);
  return ms;
}

function positiveInt(value: string | undefined, flag: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new FlagError(`${flag}: expected an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

export function parseGatewayFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
  pid: number,
): GatewayFlags | 'help' {
  const values = readFlags(argv, VALUE_FLAGS, USAGE);
  if (values === 'help') return 'help';
  const xds = values.get('xds');
  const dir = values.get('config');
  if ((xds === undefined) === (dir === undefined)) throw new FlagError(`exactly one of --xds and --config is needed\n\n${USAGE}`);
  const gateway = values.get('gateway');
  if (gateway !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(gateway))
    throw new FlagError(`--gateway: expected NAMESPACE/NAME, got ${JSON.stringify(gateway)}`);
  if (xds !== undefined && gateway === undefined) throw new FlagError('--xds needs --gateway NAMESPACE/NAME');
  if (xds !== undefined) parseHostPort(xds, '--xds');
  const ca = values.get('xds-tls-ca');
  const cert = values.get('xds-tls-cert');
  const key = values.get('xds-tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new FlagError('--xds-tls-cert and --xds-tls-key go together');
  if (cert !== undefined && ca === undefined) throw new FlagError('--xds-tls-cert needs --xds-tls-ca');
  const redis = values.get('redis') ?? (env['REDIS_URL'] || undefined);
  if (redis !== undefined && (!/^rediss?:\/\//.test(redis) || !URL.canParse(redis)))
    // Never echo the value as given: it may carry a password.
    throw new FlagError(`--redis: expected redis://[USER:PASSWORD@]HOST:PORT, got ${JSON.stringify(redactUrl(redis))}`);
  const logLevel = values.get('log-level') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new FlagError('--log-level: one of debug, info, warn, error');
  return {
    listen: parseHostPort(values.get('listen') ?? '0.0.0.0:8080', '--listen'),
    adminListen: parseHostPort(values.get('admin-listen') ?? '127.0.0.1:9901', '--admin-listen'),
    mode: xds !== undefined ? { kind: 'xds', target: xds } : { kind: 'files', dir: dir ?? '' },
    gateway,
    nodeId: values.get('node-id') ?? env['POD_NAME'] ?? `${hostname}-${pid}`,
    stateDir: values.get('state-dir'),
    redis,
    redisMaxBatch: positiveInt(values.get('redis-max-batch'), '--redis-max-batch', 256, MAX_BATCH_OPS),
    redisTimeoutMs: boundedDuration(values.get('redis-timeout') ?? '200ms', '--redis-timeout', 10_000),
    identity: values.get('identity'),
    xdsTls:
      ca !== undefined ? { caFile: ca, ...(cert !== undefined && key !== undefined ? { certFile: cert, keyFile: key } : {}) } : undefined,
    maxBodyBytes: positiveInt(values.get('max-body-bytes'), '--max-body-bytes', 10 * 1024 * 1024, 1024 * 1024 * 1024),
    inspectBodyBytes: positiveInt(values.get('inspect-body-bytes'), '--inspect-body-bytes', 4 * 1024 * 1024, 64 * 1024 * 1024),
    requestBufferBytes: positiveInt(values.get('request-buffer-bytes'), '--request-buffer-bytes', 1024 * 1024, 64 * 1024 * 1024),
    requestBodyTimeoutMs: boundedDuration(values.get('request-body-timeout') ?? '30s', '--request-body-timeout', 600_000),
    maxBufferedBytes: positiveInt(values.get('max-buffered-bytes'), '--max-buffered-bytes', 256 * 1024 * 1024, 16 * 1024 * 1024 * 1024),
    headersTimeoutMs: parseDurationMs(values.get('upstream-headers-timeout') ?? '60s', '--upstream-headers-timeout'),
    bodyTimeoutMs: parseDurationMs(values.get('upstream-body-timeout') ?? '300s', '--upstream-body-timeout'),
    drainTimeoutMs: parseDurationMs(values.get('drain-timeout') ?? '10s', '--drain-timeout'),
    connectionsPerEndpoint: positiveInt(values.get('connections'), '--connections', 128, 10_000),
    maxLimiterKeys: positiveInt(values.get('max-limiter-keys'), '--max-limiter-keys', 1_000_000, 50_000_000),
    jobReclaimAfterMs: boundedDuration(values.get('job-reclaim-after') ?? '15s', '--job-reclaim-after', 600_000),
    logLevel: logLevel as GatewayFlags['logLevel'],
  };
}
