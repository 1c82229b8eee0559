/** The wait before a retry: full-jitter exponential backoff, and the upstream's Retry-After. */

/** Full jitter: uniform in [0, min(maxMs, baseMs × 2^(retry − 1))); `retry` counts from 1. */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, retry - 1), 30));
  return random() * ceiling;
}

const MAX_RETRY_AFTER_S = 86_400;

/**
 * A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) in ms from `nowMs` (wall clock),
 * or undefined when absent or unreadable. A date in the past is 0.
 */
export function retryAfterMs(header: string | string[] | undefined, nowMs: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^[0-9]{1,10}$/.test(value)) return Math.min(Number(value), MAX_RETRY_AFTER_S) * 1000;
  // IMF-fixdate, the form senders must use (RFC 9110 §5.6.7).
  if (!/^[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_S * 1000);
}
