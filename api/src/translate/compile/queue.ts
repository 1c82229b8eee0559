/** QueuePolicy → QueueIR. */
import { compareStrings } from '../../ir/order.js';
import type { PolicyRef, QueueIR } from '../../ir/types.js';
import type { QueuePolicy } from '../../schema/kinds.js';
import { durationMs } from '../duration.js';

/** The highest an adaptive limit may go when the policy sets no maxInFlight (Envoy's default). */
export const DEFAULT_ADAPTIVE_MAX = 1000;

export function compileQueue(policy: QueuePolicy, source: PolicyRef): QueueIR {
  const s = policy.spec;
  const classes = (s.priorityClasses ?? [])
    .map((c) => ({
      name: c.name,
      priority: c.priority,
      sharePercent: c.share ?? 0,
      tenants: [...(c.match?.tenants ?? [])].sort(compareStrings),
      users: [...(c.match?.users ?? [])].sort(compareStrings),
      ...(c.match?.header
        ? { header: { name: c.match.header.name.toLowerCase(), values: [...c.match.header.values].sort(compareStrings) } }
        : {}),
      ...(c.match?.claim ? { claim: { name: c.match.claim.name, values: [...c.match.claim.values].sort(compareStrings) } } : {}),
    }))
    .sort((a, b) => b.priority - a.priority || compareStrings(a.name, b.name));
  const a = s.adaptive;
  return {
    maxInFlight: s.maxInFlight ?? DEFAULT_ADAPTIVE_MAX,
    ...(a
      ? {
          adaptive: {
            minLimit: a.minLimit,
            bufferPercent: a.buffer,
            sampleIntervalMs: durationMs(a.sampleInterval),
            minRttIntervalMs: durationMs(a.minRTTInterval),
            minRttSamples: a.minRTTSamples,
          },
        }
      : {}),
    concurrencyScope: s.concurrencyScope,
    counter: `${source.namespace}/${source.name}`,
    maxQueued: s.maxQueued,
    priorityClasses: classes,
    ...(s.defaultPriorityClass !== undefined ? { defaultPriorityClass: s.defaultPriorityClass } : {}),
    ...(s.fairness
      ? {
          fairness: {
            key: s.fairness.key,
            ...(s.fairness.header !== undefined ? { header: s.fairness.header.toLowerCase() } : {}),
            quantum: s.fairness.quantum,
            maxFlows: s.fairness.maxFlows,
            weights: [...(s.fairness.weights ?? [])]
              .map((w) => ({ value: w.value, weight: w.weight }))
              .sort((x, y) => compareStrings(x.value, y.value)),
          },
        }
      : {}),
    deadline: {
      defaultMs: durationMs(s.deadline.default),
      maxMs: durationMs(s.deadline.max),
      ...(s.deadline.header !== undefined ? { header: s.deadline.header.toLowerCase() } : {}),
    },
    rejectStatus: s.rejectStatus,
    ...(s.async
      ? {
          async: {
            trigger: s.async.trigger,
            maxAttempts: s.async.maxAttempts,
            backoff: { initialMs: durationMs(s.async.backoff.initial), maxMs: durationMs(s.async.backoff.max) },
            resultTtlMs: durationMs(s.async.resultTTL),
            attemptTimeoutMs: durationMs(s.async.attemptTimeout),
            maxBodyBytes: s.async.maxBodyBytes,
            maxResultBytes: s.async.maxResultBytes,
            maxPending: s.async.maxPending,
          },
        }
      : {}),
    ...(s.deadLetter
      ? {
          deadLetter: {
            stream: s.deadLetter.stream ?? source.name,
            maxLength: s.deadLetter.maxLength,
            retentionMs: durationMs(s.deadLetter.retention),
            synchronous: s.deadLetter.synchronous,
            maxBodyBytes: s.deadLetter.maxBodyBytes,
          },
        }
      : {}),
    source,
  };
}
