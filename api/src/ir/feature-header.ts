/**
 * Headers a DegradationPolicy's `featureHeader` may not name: the gateway sets the feature header
 * on every upstream request, replacing the client's, so naming one of these would let a policy
 * break the request's framing (hop-by-hop, Host, Content-Length), forge the verified identity or
 * the forwarding chain, or overwrite another header the gateway owns.
 */
/** Hop-by-hop headers (RFC 9110 §7.6.1): they stay on their hop, never forwarded (the gateway's proxy drops them). */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Forwarding headers a client could forge (the gateway drops them from untrusted clients and writes its own). */
export const FORWARDING_HEADERS: readonly string[] = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
];

const RESERVED = new Set([
  ...HOP_BY_HOP_HEADERS,
  ...FORWARDING_HEADERS,
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'expect',
  'cookie',
  'authorization',
  'idempotency-key',
  'x-tenant-id',
  'x-user-id',
  'x-jarvis-deadline',
  'x-jarvis-job-id',
]);

/** Whether `name` (any case) is a header a feature header may not be. */
export function isReservedFeatureHeader(name: string): boolean {
  return RESERVED.has(name.toLowerCase());
}
