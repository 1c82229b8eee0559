/**
 * Headers across the proxy: hop-by-hop headers stay on their hop (RFC 9110 §7.6.1, including the
 * names a Connection header lists), the client is appended to X-Forwarded-For, and the verified
 * identity travels in x-tenant-id / x-user-id — whatever a client sent in those is dropped.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
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

/** The names a Connection header lists: hop-by-hop too (RFC 9110 §7.6.1). */
function connectionNamed(connection: string | string[] | undefined): string[] | undefined {
  // Nearly every request says just keep-alive, itself hop-by-hop already: nothing more to drop.
  if (connection === undefined || connection === 'keep-alive') return undefined;
  return String(connection)
    .toLowerCase()
    .split(',')
    .map((s) => s.trim());
}

/** The verified identity, as the upstream sees it. */
export const TENANT_HEADER = 'x-tenant-id';
export const USER_HEADER = 'x-user-id';

/** Copies the end-to-end headers: not hop-by-hop, not named by Connection, not in `skip`. */
function endToEnd(headers: IncomingHttpHeaders, out: OutgoingHttpHeaders, skip?: ReadonlySet<string>): void {
  const named = connectionNamed(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.includes(name) || skip?.has(name)) continue;
    out[name] = value;
  }
}

/** The request's deadline as Unix time in ms, set by the queue stage (QueuePolicy). */
export const DEADLINE_HEADER = 'x-jarvis-deadline';

/** Headers the gateway sets: whatever the client sent in them never reaches the upstream. */
const IDENTITY_HEADERS: ReadonlySet<string> = new Set([TENANT_HEADER, USER_HEADER, DEADLINE_HEADER]);

/**
 * Request headers for the upstream: hop-by-hop removed (including those named by Connection), the
 * client appended to X-Forwarded-For, and the verified tenant and user in x-tenant-id and
 * x-user-id — whatever the client sent in those two is dropped, so an upstream can trust them.
 */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  clientIp: string,
  tenant?: string,
  user?: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  endToEnd(headers, out, IDENTITY_HEADERS);
  const xff = headers['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${clientIp}` : clientIp;
  if (tenant !== undefined) out[TENANT_HEADER] = tenant;
  if (user !== undefined) out[USER_HEADER] = user;
  return out;
}

/** Response headers for the client: the upstream's end-to-end headers, then `extra` (the gateway's own). */
export function responseHeaders(headers: IncomingHttpHeaders, extra?: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  endToEnd(headers, out);
  if (extra) for (const name in extra) out[name] = extra[name];
  return out;
}
