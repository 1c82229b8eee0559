/**
 * What of a request the queue keeps in Redis (a job, a dead-letter entry): its method, path and
 * end-to-end headers without credentials, and its body up to a cap. Authorization, cookies and
 * API keys are never stored: the headers a gateway's identity settings read credentials from, the
 * usual credential headers, and any header whose name says it carries a secret are dropped. A
 * job therefore reaches the upstream without the client's credentials; the upstream gets the
 * verified identity (x-tenant-id, x-user-id) as for every request.
 */
import type { IncomingHttpHeaders } from 'node:http';

const ALWAYS_DROPPED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-csrf-token',
  // Hop-by-hop, and what the gateway sets itself.
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'content-length',
  'host',
  'prefer',
  'idempotency-key',
  'x-tenant-id',
  'x-user-id',
  'x-forwarded-for',
  'forwarded',
  'x-jarvis-deadline',
]);

/** Header names that say they carry a secret. */
const SECRET_NAME = /auth|cookie|token|secret|passw|api[-_]?key|session|credential|signature/i;

/** Most headers kept, and most bytes of one value. */
const MAX_HEADERS = 64;
const MAX_VALUE = 4096;

export interface StoredRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The body's length before the cap. */
  readonly bodyBytes: number;
  readonly bodyTruncated: boolean;
}

/**
 * The redacted copy of a request. `credentialHeaders` are the (lower-case) headers the gateway's
 * identity settings read credentials from.
 */
export function redactRequest(
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: Buffer | undefined,
  maxBodyBytes: number,
  credentialHeaders: ReadonlySet<string>,
): StoredRequest {
  const kept: Record<string, string> = {};
  let n = 0;
  for (const name in headers) {
    if (n >= MAX_HEADERS) break;
    const value = headers[name];
    if (value === undefined || ALWAYS_DROPPED.has(name) || credentialHeaders.has(name) || SECRET_NAME.test(name)) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    kept[name] = text.length > MAX_VALUE ? text.slice(0, MAX_VALUE) : text;
    n++;
  }
  const all = body ?? Buffer.alloc(0);
  const cut = all.length > maxBodyBytes;
  return {
    method,
    path: path.length > 8192 ? path.slice(0, 8192) : path,
    headers: kept,
    body: cut ? all.subarray(0, maxBodyBytes) : all,
    bodyBytes: all.length,
    bodyTruncated: cut,
  };
}
