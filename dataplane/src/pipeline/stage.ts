/**
 * The shape of the request path: a chain of stages per route, compiled once at config load (the
 * model is Envoy's HTTP filter chain). A stage's `enter` runs on the way in and either lets the
 * request continue, answers it itself, or takes it over (the terminal stage, which calls the
 * upstream); its optional `leave` runs once the exchange is over, in reverse order of entry, and
 * sees the outcome (status, upstream timing, error kind) — what a breaker, an outlier detector, a
 * cache store or a latency trigger needs. `enter` is synchronous unless the stage does I/O.
 */
import type { RouteIR } from '@jarvis/api';
import type { Exchange } from './exchange.js';

/** Go on with the next stage. */
export const CONTINUE = 0;
/** The stage has answered the request completely (status and error set on the exchange). */
export const ANSWERED = 1;
/**
 * The stage owns the exchange now: it ends it later with `endExchange` (the terminal stage), or
 * hands it back with `continueExchange` / `failExchange` (a stage that waits without a promise).
 */
export const TAKEN = 2;
export type Verdict = typeof CONTINUE | typeof ANSWERED | typeof TAKEN;

export interface Stage {
  /** For logs and tests. */
  readonly name: string;
  enter(x: Exchange): Verdict | Promise<Verdict>;
  /** Runs once when the exchange is over, for every stage that was entered, last entered first. */
  leave?(x: Exchange): void;
}

/**
 * Builds one kind of stage for a route when the route needs it. Registered in order in
 * pipeline/stages.ts; the features a factory declares are announced to the operator (xDS node
 * client_features), so registering a stage is what makes its policy kind `Enforced`.
 */
export interface StageFactory<Ctx> {
  readonly name: string;
  /** Feature strings (api/src/features.ts) this stage enforces. */
  readonly features: readonly string[];
  /** Features it enforces only when the gateway has Redis (announced only then). */
  readonly redisFeatures?: readonly string[];
  /** The stage for this route, or undefined when the route has nothing for it to do. */
  build(route: RouteIR, ctx: Ctx): Stage | undefined;
}
