/**
 * What the gateway says about its link to the operator, at warn level when something needs a
 * person and never once per retry:
 *
 * - The operator cannot be reached (the stream fails): the first failure is logged with its cause
 *   (`connect ECONNREFUSED …`), then at most one line per `repeatMs` with the number of attempts;
 *   each retry on its own is a debug line. A stream that works again says so once, at info.
 * - The operator is reached but sends no config for this gateway's Gateway: after `silentMs`
 *   without one, and again at most every `repeatMs`, a line names the Gateway and what to check.
 *   An operator that knows no such Gateway sends nothing at all on the stream; one whose Gateway
 *   was deleted sends a config without it.
 *
 * Pure (clock and logger injected); config/xds.ts calls `tick` about once a second.
 */
import { CONTROLLER_NAME, type Clock, type Logger } from '@jarvis/api';
import type { GatewayListing } from './xds-state.js';

export interface XdsReportOptions {
  /** `host:port` of the operator. */
  readonly target: string;
  /** `<namespace>/<gateway>` this gateway serves. */
  readonly group: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** The shortest time between two warnings of one kind; default 60 s. */
  readonly repeatMs?: number;
  /** How long a reachable operator may stay silent about our Gateway; default 5 s. */
  readonly silentMs?: number;
}

/** grpc-js's details of a failed connection, without its wrapping: `connect ECONNREFUSED 127.0.0.1:1`. */
export function connectionCause(status: { code: number; details: string }): string {
  const text = status.details
    .replace(/^No connection established\.\s*Last error:\s*/i, '')
    .replace(/^Error:\s*/, '')
    .replace(/\.?\s*Resolution note:\s*$/i, '')
    .trim();
  return text || `gRPC status ${status.code}`;
}

export class XdsReport {
  readonly #o: XdsReportOptions;
  readonly #repeatMs: number;
  readonly #silentMs: number;
  /** Failed stream attempts since the last working stream. */
  #failures = 0;
  #failuresWarned = 0;
  #lastFailureWarn = -Infinity;
  /** A stream that delivered a response and has not ended. */
  #streaming = false;
  #waitingSince: number | undefined;
  #lastWaitWarn = -Infinity;

  constructor(options: XdsReportOptions) {
    this.#o = options;
    this.#repeatMs = options.repeatMs ?? 60_000;
    this.#silentMs = options.silentMs ?? 5_000;
    this.#waitingSince = options.clock.now();
  }

  /** The stream delivered its first response. */
  connected(): void {
    this.#streaming = true;
    if (this.#failures > 0)
      this.#o.log.info('xDS connected', { target: this.#o.target, gateway: this.#o.group, failedAttempts: this.#failures });
    else this.#o.log.info('xDS connected', { target: this.#o.target, gateway: this.#o.group });
    this.#failures = 0;
    this.#failuresWarned = 0;
    this.#lastFailureWarn = -Infinity;
  }

  /** The stream ended; `retryInMs` undefined: closed on purpose. */
  disconnected(status: { code: number; details: string }, retryInMs: number | undefined): void {
    const wasStreaming = this.#streaming;
    this.#streaming = false;
    if (retryInMs === undefined) return;
    const cause = connectionCause(status);
    if (wasStreaming) {
      // A working stream broke: say so once; the retries that follow count as failures.
      this.#o.log.warn('xDS stream to the operator ended; reconnecting (the gateway keeps its config)', {
        target: this.#o.target,
        error: cause,
        retryInMs,
      });
      this.#lastFailureWarn = this.#o.clock.now();
      return;
    }
    this.#failures++;
    const now = this.#o.clock.now();
    if (now - this.#lastFailureWarn >= this.#repeatMs) {
      this.#lastFailureWarn = now;
      const since = this.#failures - this.#failuresWarned;
      this.#failuresWarned = this.#failures;
      this.#o.log.warn(
        `cannot reach the operator at ${this.#o.target}: check --xds HOST:PORT and that jarvis-operator runs and listens there (its --xds-listen); retrying`,
        {
          target: this.#o.target,
          error: cause,
          attempts: this.#failures,
          ...(this.#failures > 1 ? { attemptsSinceLastWarning: since } : {}),
          retryInMs,
        },
      );
    } else {
      this.#o.log.debug('xDS connection failed', { target: this.#o.target, error: cause, attempts: this.#failures, retryInMs });
    }
  }

  /**
   * About once a second: whether our Gateway is in the operator's config, and whether this
   * gateway runs on a config at all (the last good one from the state dir counts).
   */
  tick(listing: GatewayListing, hasConfig: boolean): void {
    const now = this.#o.clock.now();
    if (listing === 'present') {
      this.#waitingSince = undefined;
      this.#lastWaitWarn = -Infinity;
      return;
    }
    this.#waitingSince ??= now;
    // While the operator cannot be reached, the failure lines above say why.
    if (!this.#streaming && this.#failures > 0) return;
    if (now - this.#waitingSince < this.#silentMs || now - this.#lastWaitWarn < this.#repeatMs) return;
    this.#lastWaitWarn = now;
    const what = `a Gateway ${this.#o.group} whose GatewayClass has controllerName ${CONTROLLER_NAME}`;
    const fields = {
      target: this.#o.target,
      gateway: this.#o.group,
      waitedMs: now - this.#waitingSince,
      serving: hasConfig ? 'the last good config' : 'nothing yet (503 until a config arrives)',
    };
    if (listing === 'absent')
      this.#o.log.warn(
        `the operator at ${this.#o.target} serves no Gateway ${this.#o.group}: check --gateway NAMESPACE/NAME, and that ${what} exists`,
        fields,
      );
    else
      this.#o.log.warn(
        `no config for Gateway ${this.#o.group} from the operator at ${this.#o.target} yet: check --gateway NAMESPACE/NAME, and that ${what} exists (the operator's log names the Gateways it serves)`,
        fields,
      );
  }
}
