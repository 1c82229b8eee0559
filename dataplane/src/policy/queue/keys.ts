/**
 * Redis key names of the queue's durable parts, all under the policy's namespace: every key of a
 * namespace carries the hash tag `{<namespace>}`, so that one namespace's policies can neither
 * name nor write another's keys (a DLQ's stream name is only a name inside the namespace), and so
 * that the scripts that move a job between its stream, its hash and the DLQ touch one cluster slot.
 *
 *   jarvis:q:{ns}:jobs:<policy>:<route id>      the job stream of a route (consumer group `workers`)
 *   jarvis:q:{ns}:delayed:<policy>:<route id>   jobs waiting for their retry (sorted set by due time)
 *   jarvis:q:{ns}:job:<hex>                     one job (hash)
 *   jarvis:q:{ns}:idem:<sha256>                 idempotency key → job id
 *   jarvis:dlq:{ns}:<stream>                    a dead-letter stream
 */
import { createHash, randomBytes } from 'node:crypto';

export const JOB_GROUP = 'workers';

/** A job id: `<namespace>.<32 hex digits>` — the namespace says where its keys are. */
export const JOB_ID_PATTERN = /^([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.([0-9a-f]{32})$/;
/** A Redis stream entry id as the admin API accepts it. */
export const ENTRY_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;
/** A DLQ stream name (the CRD's pattern). */
export const STREAM_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** A namespace (RFC 1123 label). */
export const NAMESPACE_PATTERN = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export interface RouteJobKeys {
  readonly stream: string;
  readonly delayed: string;
}

export function routeJobKeys(namespace: string, policy: string, routeId: string): RouteJobKeys {
  return {
    stream: `jarvis:q:{${namespace}}:jobs:${policy}:${routeId}`,
    delayed: `jarvis:q:{${namespace}}:delayed:${policy}:${routeId}`,
  };
}

export function newJobId(namespace: string): string {
  return `${namespace}.${randomBytes(16).toString('hex')}`;
}

/** The parts of a job id, or undefined when it is not one (checked strictly: it comes from outside). */
export function parseJobId(id: string): { namespace: string; hex: string } | undefined {
  const m = JOB_ID_PATTERN.exec(id);
  return m ? { namespace: m[1] as string, hex: m[2] as string } : undefined;
}

export function jobKey(id: string): string {
  const p = parseJobId(id);
  if (!p) throw new Error(`not a job id: ${id}`);
  return `jarvis:q:{${p.namespace}}:job:${p.hex}`;
}

/** The idempotency key of a submission: per route and tenant, so that tenants cannot collide. */
export function idempotencyKey(namespace: string, routeId: string, tenant: string, key: string): string {
  const digest = createHash('sha256').update(`${routeId}\n${tenant}\n${key}`).digest('hex');
  return `jarvis:q:{${namespace}}:idem:${digest}`;
}

export function dlqKey(namespace: string, stream: string): string {
  return `jarvis:dlq:{${namespace}}:${stream}`;
}
