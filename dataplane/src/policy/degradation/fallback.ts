/**
 * A fallback chain at work (DegradationPolicy `fallback`): one exchange walks the route's steps in
 * order until one answers. A backend step is sent through the backend sender (proxy/send.ts: its
 * breaker, endpoint choice, tries and retries) with the step's `model` written into the body; a
 * static step answers itself. The chain moves on, for what `retryOn` names, when a step's final
 * head has a listed status (discarded before anything reaches the client), when the step times
 * out before its head, when no connection could be made (or the backend has no endpoint), and —
 * without trying — when the step's breaker is open. Once a head is committed (a stream's first
 * byte on its way to the client) the chain is over, whatever follows.
 *
 * While a trigger that `whenTriggered` names holds (DegradationPolicy triggers, read through
 * `ChainDeps.triggers`), requests start at its `startAt` step.
 *
 * Time: each step is bound by its own timeout until its head comes; the whole chain by the
 * route's timeouts.request (and a queue's deadline), after which only a static step still
 * answers. Every answer says which step gave it and at which position of the chain
 * (`x-jarvis-fallback`, `x-jarvis-attempts`: steps reached, skipped ones included).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { DegradationIR } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import type { Cell } from '../../observe/cells.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { endExchange } from '../../pipeline/runner.js';
import type { CallOptions } from '../../proxy/call.js';
import type { SendOptions, SendOwner, SendResult } from '../../proxy/send.js';
import { answerSendResult, coveredOutcome, sendDeadline } from '../../proxy/stage.js';
import type { Backend } from '../../proxy/upstreams.js';
import { rewriteModel } from './fallback-body.js';

export const FALLBACK_HEADER = 'x-jarvis-fallback';
/**
 * A backend step does not start with less time than this left of the chain: it could not answer
 * anyway, and a timer that fires a fraction of a millisecond before the deadline it was set for
 * (timers have whole milliseconds) must not start one more step.
 */
const MIN_STEP_MS = 1;
export const ATTEMPTS_HEADER = 'x-jarvis-attempts';

/** What became of a step, per route and step in the metrics. */
export const STEP_RESULTS = ['answered', 'status', 'timeout', 'connect', 'breaker_open', 'no_endpoint', 'skipped'] as const;
export type StepResult = (typeof STEP_RESULTS)[number];

/** The part of the backend sender a chain uses (a test may hand it its own). */
export interface ChainSender {
  rejects(backend: Backend): boolean;
  send(x: Exchange, backend: Backend, owner: SendOwner, options: SendOptions): void;
}

export interface StaticAnswer {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

export interface ChainStep {
  readonly name: string;
  /** Set for a backend step; undefined for a static one (or a backend the config does not have). */
  readonly backend: Backend | undefined;
  readonly backendId: string | undefined;
  readonly model: string | undefined;
  readonly static: StaticAnswer | undefined;
  readonly timeoutMs: number | undefined;
  /** The metric cell of each result (made on first use). */
  readonly count: (result: StepResult) => void;
}

/** Which of a route's triggers hold now (the DegradationPolicy's trigger registry). */
export interface TriggerState {
  isActive(routeId: string, trigger: string): boolean;
}

export interface ChainDeps {
  readonly sender: ChainSender;
  /** Monotonic ms (the same clock as the sender's and x.startedAt). */
  readonly stopwatch: Clock;
  readonly call: CallOptions;
  /** A metric cell of (step, result); called at most once per pair. */
  readonly cell?: (step: string, result: StepResult) => Cell;
  /** For `whenTriggered`: whether a trigger of the route holds. */
  readonly triggers?: TriggerState;
}

/** A route's chain, compiled once per config. */
export class FallbackChain {
  readonly steps: readonly ChainStep[];
  readonly statusCodes: ReadonlySet<number>;
  readonly retryOn: NonNullable<DegradationIR['fallback']>['retryOn'];
  /** whenTriggered: the index to start at while any of `triggers` holds (of route `routeId`). */
  readonly #proactive: { readonly routeId: string; readonly triggers: readonly string[]; readonly start: number } | undefined;

  constructor(
    ir: NonNullable<DegradationIR['fallback']>,
    backends: ReadonlyMap<string, Backend>,
    readonly deps: ChainDeps,
    /** The route's timeouts.backendRequest: each try of a backend step. */
    readonly perTryTimeoutMs: number | undefined,
    routeId = '',
  ) {
    this.retryOn = ir.retryOn;
    const when = ir.whenTriggered;
    const start = when ? ir.chain.findIndex((s) => s.name === when.startAt) : -1;
    this.#proactive = when && start > 0 ? { routeId, triggers: when.triggers, start } : undefined;
    this.statusCodes = new Set(ir.retryOn.statusCodes);
    this.steps = ir.chain.map((s) => {
      const cells = new Map<StepResult, Cell>();
      const cell = deps.cell;
      const count = cell
        ? (result: StepResult) => {
            let c = cells.get(result);
            if (c === undefined) cells.set(result, (c = cell(s.name, result)));
            c.inc();
          }
        : () => {};
      const answer = s.static;
      return {
        name: s.name,
        backend: s.backend === undefined ? undefined : backends.get(s.backend),
        backendId: s.backend,
        model: s.model,
        static: answer
          ? {
              status: answer.status,
              headers: Object.fromEntries([...answer.headers.map((h) => [h.name, h.value]), ['content-type', answer.contentType]]),
              body: Buffer.from(answer.body, 'utf8'),
            }
          : undefined,
        timeoutMs: s.timeoutMs,
        count,
      };
    });
  }

  /** Walks the chain for `x` (the exchange is the chain's now: it ends it). `deadline`: stopwatch ms, Infinity for none. */
  run(x: Exchange, deadline: number): void {
    new ChainRun(this, x, deadline, this.startIndex()).next();
  }

  /** Where an exchange starts now: at whenTriggered.startAt while one of its triggers holds, else at the first step. */
  startIndex(): number {
    const p = this.#proactive;
    const state = this.deps.triggers;
    if (!p || !state) return 0;
    for (const t of p.triggers) if (state.isActive(p.routeId, t)) return p.start;
    return 0;
  }
}

/** One exchange's walk along the chain: the SendOwner of each backend step. */
class ChainRun implements SendOwner {
  /** Index of the next step. */
  #next: number;
  /** Index of the step the chain started at. */
  readonly #start: number;
  #current: ChainStep | undefined;
  /** What the last step that did not answer came to (answered at the end when nothing else does). */
  #last: SendResult | undefined;
  #lastBackend = '';
  /** A streamed body (not read into x.body) went out already: no other backend can get it. */
  #bodySpent = false;
  /** The current step's head was discarded for the cover, not to move on. */
  #forCover = false;

  constructor(
    private readonly chain: FallbackChain,
    private readonly x: Exchange,
    private readonly deadline: number,
    start: number,
  ) {
    this.#next = this.#start = start;
  }

  /** Starts the next usable step, skipping those that cannot be tried; ends the exchange when none is left. */
  next(): void {
    const { x, chain } = this;
    const steps = chain.steps;
    while (this.#next < steps.length) {
      const step = steps[this.#next++] as ChainStep;
      if (x.clientGone) break;
      if (step.static) return this.#answerStatic(step);
      const backend = step.backend;
      if (!backend) {
        step.count('no_endpoint');
        this.#last = { kind: 'no-endpoint' };
        this.#lastBackend = step.backendId ?? '';
        continue;
      }
      const now = chain.deps.stopwatch.now();
      const late = this.#late(now);
      if (this.#bodySpent || late) {
        step.count('skipped');
        if (late) this.#last = { kind: 'deadline' };
        continue;
      }
      if (chain.retryOn.breakerOpen && chain.deps.sender.rejects(backend)) {
        step.count('breaker_open');
        this.#last = { kind: 'breaker-open', retryAfterMs: backend.guard.breaker?.retryAfterMs() ?? 0 };
        this.#lastBackend = backend.id;
        continue;
      }
      this.#mark(step);
      this.#current = step;
      const body = step.model !== undefined && x.body !== undefined ? rewriteModel(x.body, step.model) : undefined;
      const options: SendOptions = {
        deadline: this.deadline,
        perTryTimeoutMs: chain.perTryTimeoutMs,
        ...(step.timeoutMs !== undefined ? { headDeadline: now + step.timeoutMs } : {}),
        ...(body !== undefined ? { body } : {}),
      };
      chain.deps.sender.send(x, backend, this, options);
      return;
    }
    this.#fail();
  }

  accept(x: Exchange, status: number): boolean {
    const chain = this.chain;
    if (chain.statusCodes.has(status) && this.#canMoveOn()) return false;
    if (status >= 500 && x.cover?.covers(status)) {
      this.#forCover = true;
      return false;
    }
    return true;
  }

  done(x: Exchange, result: SendResult): void {
    const step = this.#current as ChainStep;
    const retryOn = this.chain.retryOn;
    this.#current = undefined;
    let moveOn: boolean;
    switch (result.kind) {
      case 'answered':
        step.count('answered');
        if (result.error) answerSendResult(x, step.backendId ?? '', result, this.chain.deps.call);
        endExchange(x);
        return;
      case 'discarded':
        step.count('status');
        moveOn = !this.#forCover;
        break;
      case 'failed': {
        const kind = result.error.kind;
        if (x.body === undefined && x.hasBody && result.call.bodyStarted) this.#bodySpent = true;
        if (kind === 'timeout') {
          step.count('timeout');
          moveOn = retryOn.timeouts;
        } else if (kind === 'connect' || kind === 'upstream-reset') {
          step.count('connect');
          moveOn = retryOn.connectErrors;
        } else moveOn = false; // the client's doing (gone, body too large or too slow)
        break;
      }
      case 'breaker-open':
        step.count('breaker_open');
        moveOn = retryOn.breakerOpen;
        break;
      case 'no-endpoint':
        step.count('no_endpoint');
        moveOn = retryOn.connectErrors;
        break;
      case 'deadline':
        // The step's own time ran out before a try could start (or the chain's: next() sees it).
        step.count('timeout');
        moveOn = retryOn.timeouts || this.#late(this.chain.deps.stopwatch.now());
        break;
    }
    this.#last = result;
    this.#lastBackend = step.backendId ?? '';
    this.#forCover = false;
    if (moveOn && !x.clientGone) this.next();
    else this.#fail();
  }

  /** Whether a later step could still answer (so that a failing head may be discarded). */
  #canMoveOn(): boolean {
    const { chain } = this;
    const now = chain.deps.stopwatch.now();
    for (let i = this.#next; i < chain.steps.length; i++) {
      const step = chain.steps[i] as ChainStep;
      if (step.static) return true;
      const backend = step.backend;
      if (!backend || this.#late(now)) continue;
      if (this.x.body === undefined && this.x.hasBody) return false; // a streamed body cannot be sent twice
      if (chain.retryOn.breakerOpen && chain.deps.sender.rejects(backend)) continue;
      return true;
    }
    return false;
  }

  /** Whether the chain's time is (as good as) over. */
  #late(now: number): boolean {
    return now >= this.deadline - MIN_STEP_MS;
  }

  /** Says on the answer which step gives it. */
  #mark(step: ChainStep): void {
    // An answer from a later step than the first is a degraded one: a response cache does not keep it.
    if (step !== this.chain.steps[0]) this.x.degraded = true;
    this.x.addResponseHeaders({ [FALLBACK_HEADER]: step.name, [ATTEMPTS_HEADER]: String(this.#next - this.#start) });
  }

  #answerStatic(step: ChainStep): void {
    const x = this.x;
    const answer = step.static as StaticAnswer;
    x.req.resume();
    this.#mark(step);
    step.count('answered');
    x.status = answer.status;
    x.res.writeHead(answer.status, { ...answer.headers, ...x.responseHeaders, 'content-length': String(answer.body.length) });
    x.res.end(answer.body);
    endExchange(x);
  }

  /** No step answered: the cover answers, or the last step's failure (504 once the chain's time ran out). */
  #fail(): void {
    const x = this.x;
    x.req.resume();
    const last = this.#last;
    if (x.clientGone) {
      x.res.destroy();
      x.status = 499;
      x.error = 'client-gone';
    } else if (last === undefined || last.kind === 'deadline' || this.#late(this.chain.deps.stopwatch.now())) {
      const covered = x.cover ? { status: 0, error: 'timeout' as const } : undefined;
      if (covered && x.cover?.answer(x)) x.covered = covered;
      else sendDeadline(x);
    } else {
      const covered = x.cover ? coveredOutcome(last) : undefined;
      if (covered && x.cover?.answer(x)) x.covered = covered;
      else answerSendResult(x, this.#lastBackend, last, this.chain.deps.call);
    }
    endExchange(x);
  }
}
