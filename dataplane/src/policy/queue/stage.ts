/**
 * The queue stage (QueuePolicy): after the rate limit (and the cache: a cached answer never takes
 * a slot), before the proxy. A request is classified (priority class, flow, deadline) and asks the
 * route's gate for an in-flight slot: admitted at once, or it waits — for a slot released by an
 * event, for its deadline (a timer), or for its client to go away (the response's 'close' event),
 * whichever comes first. It never polls. A request whose deadline passes while it waits, that is
 * shed for a higher class, or that finds the queue full is answered with the policy's rejectStatus
 * (503 by default) and Retry-After, and never reaches the upstream; an admitted one carries the rest
 * of its deadline to the proxy, as the upstream call's timeout and as `x-jarvis-deadline`.
 * `leave` releases the slot and gives the adaptive limit the call's upstream time.
 *
 * A DegradationPolicy's shedPriorityClasses acts here (shed.ts): while a named trigger of the
 * route is active, a request of a named class is refused at once — the rejectStatus, a Retry-After
 * of the trigger's remaining hold, a queue-shed problem naming the trigger — and never reaches the
 * upstream; the waiting requests of the class are shed the moment the trigger activates (the trigger
 * registry tells the stage; nothing polls). Async job submissions of the class are still accepted:
 * jobs are the deferred path, and their workers serve them in priority order.
 *
 * With `async`, requests that ask for it become jobs (jobs/submit.ts); with
 * `deadLetter.synchronous`, requests that fail for good are dead-lettered (dlq/writer.ts), with the
 * body the buffer stage read (a longer, streamed body is stored cut).
 */
import { kindFeature, sectionFeature, type QueueIR, type RouteIR } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import { sendProblem } from '../../observe/problem.js';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import { ProxyStage } from '../../proxy/stage.js';
import { QueueClassifier } from './classify.js';
import { SyncDeadLetters } from './dlq/writer.js';
import type { Gate } from './gate.js';
import { JobSubmitter } from './jobs/submit.js';
import { QueueBuild } from './runtime.js';
import { ClassShedding } from './shed.js';
import { Ticket, TicketState, type RejectReason, type ShedCause, type TicketOwner } from './ticket.js';

/** A request's ticket: the exchange it belongs to and how to resume it. */
export class QueueTicket extends Ticket {
  resolve: ((v: Verdict) => void) | undefined = undefined;
  /** Listens for the client going away while the ticket waits. */
  readonly onClose: () => void;
  constructor(
    cls: number,
    flow: string,
    deadline: number,
    stage: QueueStage,
    readonly x: Exchange,
  ) {
    super(cls, flow, deadline, stage);
    this.onClose = () => stage.clientLeft(this);
  }
}

export interface QueueStageDeps {
  readonly clock: Clock;
  readonly stopwatch: Clock;
  readonly jobs: JobSubmitter | undefined;
  readonly deadLetters: SyncDeadLetters | undefined;
  /** The route's DegradationPolicy shedPriorityClasses, resolved to this queue's classes. */
  readonly shedding?: ClassShedding | undefined;
}

const REJECTIONS: Readonly<Record<RejectReason, { type: string; title: string; detail: string }>> = {
  full: { type: 'queue-full', title: 'Queue full', detail: 'The queue of this route is full.' },
  shed: {
    type: 'queue-shed',
    title: 'Shed',
    detail: 'The request gave way to requests of a higher priority class, or could not be served before its deadline.',
  },
  expired: {
    type: 'deadline-exceeded',
    title: 'Deadline exceeded',
    detail: 'The deadline of the request passed while it waited in the queue.',
  },
};

/** The upstream time of an exchange's call, when it says something about the upstream's latency. */
function upstreamTime(x: Exchange): number | undefined {
  if (x.upstreamStart <= 0 || x.upstreamEnd < x.upstreamStart) return undefined;
  if (x.error === 'client-gone' || x.error === 'connect' || x.error === 'body-too-large') return undefined;
  return x.upstreamEnd - x.upstreamStart;
}

function failureReason(x: Exchange): string {
  switch (x.error) {
    case 'timeout':
      return 'upstream timed out';
    case 'connect':
      return 'upstream unreachable';
    case 'upstream-reset':
      return 'upstream broke off its answer';
    default:
      return `upstream answered ${x.status}`;
  }
}

export class QueueStage implements Stage, TicketOwner {
  readonly name = 'queue';
  readonly #shedding: ClassShedding | undefined;
  /** Picks the waiting tickets of this route (a Backend-scoped gate holds other routes' too). */
  readonly #mine: (t: Ticket) => boolean;

  constructor(
    readonly routeId: string,
    readonly ir: QueueIR,
    readonly gate: Gate,
    readonly label: string,
    readonly classifier: QueueClassifier,
    private readonly deps: QueueStageDeps,
  ) {
    this.#shedding = deps.shedding;
    this.#mine = (t) => t.owner instanceof QueueStage && t.owner.routeId === routeId;
  }

  /**
   * Sheds the waiting requests of this route whose class a trigger sheds now (shedPriorityClasses);
   * the trigger registry calls it when the route's triggers change state.
   */
  shedWaiting(): void {
    const s = this.#shedding;
    if (!s) return;
    for (const cls of s.classes) {
      const cause = s.cause(cls);
      if (cause) this.gate.shedClass(cls, this.#mine, cause);
    }
  }

  enter(x: Exchange): Verdict | Promise<Verdict> {
    const c = this.classifier.classify(x);
    if (!c.ok) {
      x.req.resume();
      x.status = 400;
      sendProblem(
        x.res,
        400,
        c.problem,
        c.problem === 'unknown-priority-class' ? 'Unknown priority class' : 'Invalid deadline',
        c.detail,
        undefined,
        x.responseHeaders,
      );
      return ANSWERED;
    }
    const jobs = this.deps.jobs;
    if (jobs?.wants(x)) return jobs.submit(x, c.cls, c.flow);
    const shed = this.#shedding?.cause(c.cls);
    if (shed) {
      this.gate.turnAway(new Ticket(c.cls, c.flow, Infinity, this));
      this.#refuse(x, 'shed', shed);
      return ANSWERED;
    }
    const dl = this.deps.deadLetters;
    if (dl) x.deadLetter = dl.handle(x, c.cls, c.flow, this.deps.clock.now());
    return this.#admit(x, c.cls, c.flow, c.deadlineMs);
  }

  #admit(x: Exchange, cls: number, flow: string, deadlineMs: number): Verdict | Promise<Verdict> {
    const now = this.deps.clock.now();
    x.deadline = this.deps.stopwatch.now() + deadlineMs;
    x.deadlineUnixMs = now + deadlineMs;
    const t = new QueueTicket(cls, flow, now + deadlineMs, this, x);
    x.queueTicket = t;
    const result = this.gate.acquire(t);
    if (result === 'admitted') return CONTINUE;
    if (result === 'rejected') {
      this.#refuse(x, 'full');
      return ANSWERED;
    }
    // Admitted while it was being queued (a slot was free for it after all).
    if (t.state === TicketState.Running) return CONTINUE;
    return new Promise<Verdict>((resolve) => {
      t.resolve = resolve;
      x.res.on('close', t.onClose);
    });
  }

  admitted(ticket: Ticket): void {
    const t = ticket as QueueTicket;
    const resolve = t.resolve;
    if (!resolve) return; // admitted inside acquire(): #admit sees it
    t.resolve = undefined;
    t.x.res.off('close', t.onClose);
    resolve(CONTINUE);
  }

  rejected(ticket: Ticket, reason: RejectReason, cause?: ShedCause): void {
    const t = ticket as QueueTicket;
    const resolve = t.resolve;
    t.resolve = undefined;
    t.x.res.off('close', t.onClose);
    this.#refuse(t.x, reason, cause);
    resolve?.(ANSWERED);
  }

  /** The client went away while its request waited: it leaves the queue now. */
  clientLeft(t: QueueTicket): void {
    if (t.x.res.writableFinished || !this.gate.cancel(t)) return;
    const resolve = t.resolve;
    t.resolve = undefined;
    t.x.res.off('close', t.onClose);
    t.x.status = 499;
    t.x.error = 'client-gone';
    resolve?.(ANSWERED);
  }

  leave(x: Exchange): void {
    const t = x.queueTicket;
    if (t) this.gate.release(t, upstreamTime(x));
    const handle = x.deadLetter;
    if (handle && !handle.recorded && SyncDeadLetters.failedForGood(x)) handle.record(failureReason(x), x.status >= 500 ? x.status : 0);
  }

  #refuse(x: Exchange, reason: RejectReason, cause?: ShedCause): void {
    const r = REJECTIONS[reason];
    x.req.resume();
    x.status = this.ir.rejectStatus;
    if (cause) {
      sendProblem(
        x.res,
        x.status,
        r.type,
        r.title,
        `Trigger ${cause.trigger} of DegradationPolicy ${cause.policy} is active: requests of priority class ${cause.priorityClass} are shed on this route until it deactivates.`,
        { queue: this.label, priorityClass: cause.priorityClass, trigger: cause.trigger },
        { ...x.responseHeaders, 'retry-after': String(cause.retryAfterSeconds) },
      );
      return;
    }
    sendProblem(
      x.res,
      x.status,
      r.type,
      r.title,
      r.detail,
      { queue: this.label },
      {
        ...x.responseHeaders,
        'retry-after': String(this.gate.retryAfterSeconds()),
      },
    );
  }
}

/** Builds a route's queue stage; async jobs and dead letters are wired through the build (runtime.ts). */
export const queueStage: StageFactory<StageContext> = {
  name: 'queue',
  features: [kindFeature('QueuePolicy'), sectionFeature('DegradationPolicy', 'shedPriorityClasses')],
  redisFeatures: [sectionFeature('QueuePolicy', 'async'), sectionFeature('QueuePolicy', 'deadLetter')],
  build(route: RouteIR, ctx: StageContext) {
    const ir = route.queue;
    const build = ctx.queues;
    if (!ir || !build) return undefined;
    const { gate, label } = build.gate(route, ir);
    const classifier = new QueueClassifier(ir);
    const policy = `${ir.source.namespace}/${ir.source.name}`;
    const dlq = build.dlq(route, ir);
    const keys = QueueBuild.keysFor(route, ir);
    const d = build.deps;
    let jobs: JobSubmitter | undefined;
    // The route's DegradationPolicy runtime: its toggles for job attempts, its triggers for shedding.
    const runtime = route.degradation ? ctx.degradation?.runtime(route) : undefined;
    // shedPriorityClasses: class names resolved to this queue's classes, the triggers of the route's runtime.
    const rules = route.degradation?.shedPriorityClasses;
    const source = route.degradation?.source;
    const shedding =
      rules && runtime && source
        ? ClassShedding.resolve(rules, classifier.classNames, runtime.triggers, ctx.stopwatch, `${source.namespace}/${source.name}`)
        : undefined;
    if (ir.async) {
      const proxy = new ProxyStage(route, {
        backends: ctx.backends,
        call: ctx.call,
        random: ctx.random,
        sender: ctx.sender,
      });
      const names = classifier.classNames;
      const fallbackClass = Math.max(0, names.length - 1);
      build.jobRoute(
        {
          routeId: route.id,
          policy,
          namespace: ir.source.namespace,
          label,
          keys,
          ir,
          gate,
          classIndex: (name) => classifier.classIndex(name) ?? fallbackClass,
          pickBackend: () => proxy.pickBackend(),
          dlq,
          // A job's attempts tell the upstream the route's feature toggles as its requests do.
          ...(runtime?.hasToggles ? { upstreamHeaders: () => runtime.headerEntry } : {}),
          // A job of a shed class waits until the trigger may deactivate (its hold), then is looked at again.
          ...(shedding
            ? {
                shedFor: (cls: number) => {
                  const cause = shedding.cause(cls);
                  return cause ? cause.retryAfterSeconds * 1000 : undefined;
                },
              }
            : {}),
        },
        classifier,
      );
      jobs = new JobSubmitter({
        routeId: route.id,
        ir,
        keys,
        store: build.jobs,
        clock: ctx.clock,
        body: ctx.body,
        credentialHeaders: d.credentialHeaders,
        classNames: names,
        onSubmitted: () => d.onJob?.(label, 'submitted'),
      });
    }
    let warned = false;
    const deadLetters =
      dlq && ir.deadLetter?.synchronous
        ? new SyncDeadLetters({
            store: build.dlqStore,
            dlq,
            clock: ctx.clock,
            routeId: route.id,
            policy,
            classNames: classifier.classNames,
            credentialHeaders: d.credentialHeaders,
            onWritten: (ok, error) => {
              d.onDeadLetter?.(dlq, ok);
              // Once per route and config: the metric counts every failed write.
              if (!ok && !warned) {
                warned = true;
                d.log.warn('could not dead-letter a failed request (jarvis_gateway_dlq_writes_total counts them)', {
                  route: route.id,
                  error,
                });
              }
            },
          })
        : undefined;
    const stage = new QueueStage(route.id, ir, gate, label, classifier, {
      clock: ctx.clock,
      stopwatch: ctx.stopwatch,
      jobs,
      deadLetters,
      shedding,
    });
    if (shedding) ctx.degradation?.watch(route.id, () => stage.shedWaiting());
    return stage;
  },
};
