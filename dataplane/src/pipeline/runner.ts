/**
 * Runs an exchange through its chain: `enter` of each stage in order until one answers or takes
 * the exchange over; then, once the exchange is over, `leave` of every entered stage in reverse
 * order, then the gateway's `ended` hook (metrics). Synchronous stages cost a loop step; a stage
 * that returns a promise resumes the walk when it settles; one that waits without a promise
 * (returns TAKEN) resumes it with `continueExchange`. A stage that throws or rejects ends
 * the exchange with 500 (`internal`); a client that left while a stage waited ends it with 499.
 *
 * The route stage switches `chain` from the gateway's front stages (identify, route) to the
 * route's own; front stages therefore have no `leave` (checked when the front is built).
 */
import { ANSWERED, CONTINUE, TAKEN, type Stage, type Verdict } from './stage.js';
import type { Exchange } from './exchange.js';

/** Walks `x.chain` from `x.next`. */
export function run(x: Exchange): void {
  for (;;) {
    const stage = x.chain[x.next];
    if (stage === undefined) {
      failExchange(x, new Error('the chain ended without a stage that answers'));
      return;
    }
    x.next++;
    x.entered = x.next;
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = stage.enter(x);
    } catch (err) {
      failExchange(x, err);
      return;
    }
    if (verdict === CONTINUE) continue;
    if (verdict === ANSWERED) {
      endExchange(x);
      return;
    }
    if (verdict === TAKEN) return;
    verdict.then(
      (v) => resume(x, v),
      (err: unknown) => failExchange(x, err),
    );
    return;
  }
}

/**
 * For a stage that returned TAKEN to wait without a promise (the rate-limit stage on Redis): the
 * walk goes on with its verdict, as if `enter` had returned it then — or, for a promise, when it settles.
 */
export function continueExchange(x: Exchange, verdict: Verdict | Promise<Verdict>): void {
  if (typeof verdict === 'number') resume(x, verdict);
  else
    verdict.then(
      (v) => resume(x, v),
      (err: unknown) => failExchange(x, err),
    );
}

function resume(x: Exchange, verdict: Verdict): void {
  if (x.ended) return;
  if (verdict === ANSWERED) return endExchange(x);
  if (verdict === TAKEN) return;
  if (x.clientGone) {
    // Nothing further is sent for a client that left while a stage waited (a Wait limit, a body).
    x.status = 499;
    x.error = 'client-gone';
    return endExchange(x);
  }
  run(x);
}

/** Ends the exchange once: every entered stage's `leave`, last first, then the gateway's hook. */
export function endExchange(x: Exchange): void {
  if (x.ended) return;
  x.ended = true;
  const chain = x.chain;
  for (let i = x.entered - 1; i >= 0; i--) {
    const leave = chain[i]?.leave;
    if (leave === undefined) continue;
    try {
      leave.call(chain[i], x);
    } catch (err) {
      x.hooks.failed(x, err);
    }
  }
  x.hooks.ended(x);
}

/**
 * A stage threw or rejected — or, for a stage that returned TAKEN to wait, failed later: the
 * gateway's `failed` hook answers (500) unless an answer has started; then the exchange ends.
 */
export function failExchange(x: Exchange, err: unknown): void {
  if (x.ended) return;
  if (x.status === 0) {
    x.status = 500;
    x.error = 'internal';
  }
  x.hooks.failed(x, err);
  endExchange(x);
}

/** Checks that front stages (before the route is known) have no `leave`: the route stage replaces the chain. */
export function checkFront(stages: readonly Stage[]): readonly Stage[] {
  for (const s of stages) if (s.leave) throw new Error(`front stage ${s.name} must not have a leave`);
  return stages;
}
