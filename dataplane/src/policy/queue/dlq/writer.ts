/**
 * Dead-lettering of synchronous requests (a QueuePolicy with `deadLetter.synchronous: true`).
 *
 * The queue stage gives every request of such a route a handle, `x.deadLetter`. Whoever knows a
 * request has failed for good calls `x.deadLetter.record(reason)` once: the fallback stage after
 * its last step failed, with the reason naming the steps. When nobody did, the queue stage records
 * it itself as the exchange ends — an upstream 5xx, a timeout or an unreachable upstream (the
 * request reached for the upstream and the client was still there) — so that a route without
 * fallbacks dead-letters too, and a request is never written twice. The write goes to Redis in the
 * background; a failed write is logged and counted, never answered to the client.
 */
import type { Clock } from '../../../clock.js';
import type { Exchange } from '../../../pipeline/exchange.js';
import { redactRequest } from '../redact.js';
import type { DlqSettings, DlqStore } from './store.js';

/** The API a later stage (fallback) uses: one per exchange of a route with synchronous dead-lettering. */
export interface DeadLetterHandle {
  /** Whether this request has been dead-lettered already. */
  readonly recorded: boolean;
  /** Writes the request to the DLQ now with `reason` (and the last upstream status, when there was one); later calls do nothing. */
  record(reason: string, status?: number): void;
}

export interface SyncDeadLetterDeps {
  readonly store: DlqStore | undefined;
  readonly dlq: DlqSettings;
  readonly clock: Clock;
  readonly routeId: string;
  readonly policy: string;
  readonly classNames: readonly string[];
  readonly credentialHeaders: ReadonlySet<string>;
  readonly onWritten?: (ok: boolean, error?: string) => void;
}

export class SyncDeadLetters {
  constructor(private readonly deps: SyncDeadLetterDeps) {}

  /** A handle for one exchange; `cls`/`flow` as the queue classified it. */
  handle(x: Exchange, cls: number, flow: string, firstAt: number): DeadLetterHandle {
    return new Handle(this, x, cls, flow, firstAt);
  }

  /** Whether an exchange that is over failed for good at the upstream. */
  static failedForGood(x: Exchange): boolean {
    if (x.attempts === 0 || x.error === 'client-gone' || x.error === 'body-too-large') return false;
    return x.status >= 500 || x.error === 'timeout' || x.error === 'connect' || x.error === 'upstream-reset';
  }

  /** @internal Handle.record */
  write(x: Exchange, cls: number, flow: string, firstAt: number, reason: string, status: number): void {
    const d = this.deps;
    if (!d.store) {
      d.onWritten?.(false, 'no Redis');
      return;
    }
    // The body the buffer stage read; of a longer, streamed one only its first part (stored as cut).
    const streamed = x.body === undefined && x.hasBody;
    const body = x.body ?? (x.bodyPrefix ? Buffer.concat(x.bodyPrefix) : undefined);
    const request = redactRequest(x.method, x.url, x.headers, body, d.dlq.maxBodyBytes, d.credentialHeaders);
    d.store
      .write(
        d.dlq,
        {
          route: d.routeId,
          policy: d.policy,
          reason,
          attempts: x.attempts,
          status,
          firstAt,
          tenant: x.tenant,
          user: x.user,
          cls: d.classNames[cls] ?? '',
          flow,
          request: streamed ? { ...request, bodyTruncated: true } : request,
        },
        d.clock.now(),
      )
      .then(
        () => d.onWritten?.(true),
        (err: unknown) => d.onWritten?.(false, err instanceof Error ? err.message : String(err)),
      );
  }
}

class Handle implements DeadLetterHandle {
  recorded = false;
  constructor(
    private readonly owner: SyncDeadLetters,
    private readonly x: Exchange,
    private readonly cls: number,
    private readonly flow: string,
    private readonly firstAt: number,
  ) {}

  record(reason: string, status?: number): void {
    if (this.recorded) return;
    this.recorded = true;
    this.owner.write(this.x, this.cls, this.flow, this.firstAt, reason, status ?? (this.x.status >= 500 ? this.x.status : 0));
  }
}
