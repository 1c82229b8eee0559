/** QueuePolicy → QueueIR. */
import { compareStrings } from '../../ir/order.js';
import type { PolicyRef, QueueIR } from '../../ir/types.js';
import type { QueuePolicy } from '../../schema/kinds.js';
import { durationMs } from '../duration.js';

export function compileQueue(policy: QueuePolicy, source: PolicyRef): QueueIR {
  const s = policy.spec;
  const classes = (s.priorityClasses ?? [])
    .map((c) => ({
      name: c.name,
      priority: c.priority,
      tenants: [...(c.match?.tenants ?? [])].sort(compareStrings),
      users: [...(c.match?.users ?? [])].sort(compareStrings),
      ...(c.match?.header
        ? { header: { name: c.match.header.name.toLowerCase(), values: [...c.match.header.values].sort(compareStrings) } }
        : {}),
    }))
    .sort((a, b) => b.priority - a.priority || compareStrings(a.name, b.name));
  return {
    maxInFlight: s.maxInFlight,
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
            maxAttempts: s.async.maxAttempts,
            backoff: { initialMs: durationMs(s.async.backoff.initial), maxMs: durationMs(s.async.backoff.max) },
            resultTtlMs: durationMs(s.async.resultTTL),
          },
        }
      : {}),
    ...(s.deadLetter
      ? {
          deadLetter: {
            stream: s.deadLetter.stream ?? `jarvis:dlq:${source.namespace}/${source.name}`,
            maxLength: s.deadLetter.maxLength,
            retentionMs: durationMs(s.deadLetter.retention),
          },
        }
      : {}),
    source,
  };
}
