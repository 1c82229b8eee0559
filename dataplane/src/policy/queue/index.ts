/** Queues (QueuePolicy): admission by priority and fairness with deadlines, adaptive concurrency, async jobs and dead letters. */
export { GradientController, type GradientOptions, type LimitChange } from './adaptive.js';
export { QueueClassifier, type Classified, type QueueRequest } from './classify.js';
export { DlqStore, minIdFor, type DlqEntry, type DlqFilter, type DlqPage, type DlqSettings, type FailedRequest } from './dlq/store.js';
export { SyncDeadLetters, type DeadLetterHandle } from './dlq/writer.js';
export { Gate, type AcquireResult, type GateCounters, type GateObserver, type GateOptions } from './gate.js';
export { JOBS_PATH, JobSubmitter } from './jobs/submit.js';
export { JobStore, UNFINISHED_TTL_MS, type JobView } from './jobs/store.js';
export { JobWorker, type JobRouteSpec } from './jobs/worker.js';
export * from './keys.js';
export { redactRequest, type StoredRequest } from './redact.js';
export {
  QueueBuild,
  QueueRuntime,
  gateLabel,
  type DlqInUse,
  type JobOutcome,
  type JobRouteInfo,
  type QueueRuntimeDeps,
} from './runtime.js';
export { Scheduler, OVERFLOW_FLOW, type ClassSpec, type SchedulerOptions } from './scheduler.js';
export { QueueStage, QueueTicket, queueStage } from './stage.js';
export { Ticket, TicketState, type RejectReason, type ShedCause, type TicketOwner } from './ticket.js';
