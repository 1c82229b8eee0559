/** Compiled QueuePolicy of a route (seed §3). */
import { Type } from '@sinclair/typebox';
import { Count, Millis, Name, PolicyRef, Positive, literals } from './common.js';

/** A verified-identity value condition: header or claim name and the values that select the class. */
const ValuesIR = Type.Object({ name: Name, values: Type.Array(Type.String(), { minItems: 1 }) });

export const PriorityClassIR = Type.Object({
  name: Name,
  /** Higher is served first. */
  priority: Count,
  /**
   * Share of dispatches (percent) the class gets while it waits, even when higher classes wait;
   * 0: strict priority. The shares of a queue add up to at most 100.
   */
  sharePercent: Count,
  /** A request matching any of these belongs to the class; all empty: only via defaultPriorityClass. Sorted. */
  tenants: Type.Array(Name),
  users: Type.Array(Name),
  /** Header name lower case, values sorted. */
  header: Type.Optional(ValuesIR),
  /** Verified claim (dotted name), values sorted. */
  claim: Type.Optional(ValuesIR),
});

export const QueueIR = Type.Object({
  /** Most requests upstream at once per gateway replica; with `adaptive`, the highest the found limit may go. */
  maxInFlight: Positive,
  /** The in-flight limit found from latency (gradient controller) instead of the fixed maxInFlight. */
  adaptive: Type.Optional(
    Type.Object({
      /** Lowest limit, and the limit while minRTT is measured; at most maxInFlight. */
      minLimit: Positive,
      /** Latency increase over minRTT tolerated before the limit shrinks (percent). */
      bufferPercent: Count,
      /** How often the limit is recomputed. */
      sampleIntervalMs: Millis,
      /** How often minRTT is measured again. */
      minRttIntervalMs: Millis,
      /** Calls that measure minRTT. */
      minRttSamples: Positive,
    }),
  ),
  /** Route: one bound per route. Backend: one per backend, shared by the routes of the same policy. */
  concurrencyScope: literals(['Route', 'Backend'] as const),
  /** Identity of the bound: `<policy namespace>/<policy name>`; the gateway adds the route (Route scope) or the backends (Backend scope). */
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
      /** Flows with a weight other than 1, sorted by value. */
      weights: Type.Array(Type.Object({ value: Name, weight: Positive })),
    }),
  ),
  deadline: Type.Object({
    defaultMs: Millis,
    /** At least defaultMs. */
    maxMs: Millis,
    /** Header (lower case) in which a client asks for a shorter deadline in ms. */
    header: Type.Optional(Name),
  }),
  /** 429 or 503: queue full, shed, or deadline passed while waiting. */
  rejectStatus: Type.Union([Type.Literal(429), Type.Literal(503)]),
  /** Asynchronous jobs with retries (Redis Streams). */
  async: Type.Optional(
    Type.Object({
      /** Prefer: only requests with `Prefer: respond-async`; Always: every request. */
      trigger: literals(['Prefer', 'Always'] as const),
      maxAttempts: Positive,
      backoff: Type.Object({ initialMs: Millis, maxMs: Millis }),
      resultTtlMs: Millis,
      /** Upstream timeout of one attempt. */
      attemptTimeoutMs: Millis,
      maxBodyBytes: Count,
      maxResultBytes: Count,
      /** Most unfinished jobs of a route. */
      maxPending: Positive,
    }),
  ),
  /** Dead-letter stream: for jobs (with async) and, with `synchronous`, for synchronous requests. */
  deadLetter: Type.Optional(
    Type.Object({
      /** Name of the stream inside the policy's namespace (the source's namespace). */
      stream: Name,
      maxLength: Positive,
      retentionMs: Millis,
      synchronous: Type.Boolean(),
      /** Most body bytes kept per entry. */
      maxBodyBytes: Count,
    }),
  ),
  /** The policy this comes from. */
  source: PolicyRef,
});
