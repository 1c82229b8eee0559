/** application/problem+json answers (RFC 9457) of the gateway itself. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const PROBLEM_BASE = 'https://stability.jarvis.io/problems/';

export function sendProblem(
  res: ServerResponse,
  status: number,
  type: string,
  title: string,
  detail: string,
  extra?: Readonly<Record<string, unknown>>,
  headers?: OutgoingHttpHeaders,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: `${PROBLEM_BASE}${type}`, title, status, detail, ...extra });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
