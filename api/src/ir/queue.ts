/** Compiled QueuePolicy of a route (seed §3). */
import { Type } from '@sinclair/typebox';
import { Count, Millis, Name, PolicyRef, Positive, literals } from './common.js';

export const PriorityClassIR = Type.Object({
  name: Name,
  /** Higher is served first. */
  priority: Count,
  /** A request matching any of these belongs to the class; all empty: only via defaultPriorityClass. Sorted. */
  tenants: Type.Array(Name),
  users: Type.Array(Name),
  /** Header name lower case, values sorted. */
  header: Type.Optional(Type.Object({ name: Name, values: Type.Array(Type.String(), { minItems: 1 }) })),
});

export const QueueIR = Type.Object({
  /** Most requests upstream at once per gateway replica. */
  maxInFlight: Positive,
  /** Route: one bound per route. Backend: one per backend, shared by the routes of the same policy. */
  concurrencyScope: literals(['Route', 'Backend'] as const),
  /** Identity of the bound: `<policy namespace>/<policy name>`; Route scope adds the route id. */
  counter: Name,
  /** Most waiting requests per replica; 0 rejects at once. */
  maxQueued: Count,
  /** Sorted by priority (highest first), then name. Empty: first-in first-out. */
  priorityClasses: Type.Array(PriorityClassIR),
  /** Class of requests that match none; absent: the lowest class. */
  defaultPriorityClass: Type.Optional(Name),
  /** Deficit round robin inside a class. */
  fairness: Type.Optional(
    Type.Object({
      key: literals(['Tenant', 'User', 'ClientIP', 'Header'] as const),
      /** Key Header: the header (lower case). */
      header: Type.Optional(Name),
      quantum: Positive,
      maxFlows: Positive,
    }),
  ),
  deadline: Type.Object({
    defaultMs: Millis,
    /** At least defaultMs. */
    maxMs: Millis,
    /** Header (lower case) in which a client asks for a shorter deadline in ms. */
    header: Type.Optional(Name),
  }),
  /** 429 or 503. */
  rejectStatus: Type.Union([Type.Literal(429), Type.Literal(503)]),
  /** Asynchronous submission with retries. */
  async: Type.Optional(
    Type.Object({
      maxAttempts: Positive,
      backoff: Type.Object({ initialMs: Millis, maxMs: Millis }),
      resultTtlMs: Millis,
    }),
  ),
  /** Dead-letter stream; only with async. */
  deadLetter: Type.Optional(Type.Object({ stream: Name, maxLength: Positive, retentionMs: Millis })),
  /** The policy this comes from. */
  source: PolicyRef,
});
