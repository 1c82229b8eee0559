/** What a stage factory may use to build a route's stage: built once per config, shared by every route. */
import type { RouteIR } from '@jarvis/api';
import type { Clock, Timers } from '../clock.js';
import type { BodySettings } from '../inspect/stage.js';
import type { PendingDegradation } from '../policy/degradation/toggles-registry.js';
import type { Cell } from '../observe/cells.js';
import type { TriggerState } from '../policy/degradation/fallback.js';
import type { CacheOutcome, PendingCaches, RedisLevel } from '../policy/cache/index.js';
import type { HotspotGuard } from '../policy/hotspot/index.js';
import type { QueueBuild } from '../policy/queue/index.js';
import type { HeaderPolicy } from '../proxy/headers.js';
import type { LimitDecision, LimitStores, Settlement } from '../policy/ratelimit/index.js';
import type { CallOptions } from '../proxy/call.js';
import type { BackendSender } from '../proxy/send.js';
import type { Backend } from '../proxy/upstreams.js';

export interface StageContext {
  /** Wall-clock time for policies (windows, TTLs). */
  readonly clock: Clock;
  /** Monotonic sub-ms time for durations (upstream timing). */
  readonly stopwatch: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly stores: LimitStores;
  /** The config's backends, prepared (not yet in force while the config compiles). */
  readonly backends: ReadonlyMap<string, Backend>;
  /** Sends an exchange to one backend (breaker, endpoint choice, retries): see proxy/send.ts. */
  readonly sender: BackendSender;
  readonly call: CallOptions;
  /** How request bodies are read (buffer and inspection bounds, timeout, the shared budget). */
  readonly body: BodySettings;
  /** Which request headers never reach the upstream (identity, forged forwarding). */
  readonly headerPolicy: HeaderPolicy;
  /** Response caches of this config (one per CachePolicy), the Redis level, and their metrics. */
  readonly caches: {
    readonly pending: PendingCaches;
    readonly l2: RedisLevel | undefined;
    readonly counter: (policy: string) => (outcome: CacheOutcome) => void;
  };
  /** Hot-key guards made for this config; installed in the registry only when the config is in force. */
  readonly guards: HotspotGuard[];
  readonly onDecision: (route: RouteIR, d: LimitDecision) => void;
  /** A request's LLM-token reservation was settled (from usage, kept without usage, or refunded without an answer). */
  readonly onLlmSettled?: (route: RouteIR, s: Settlement) => void;
  /** A route's limiter changed store mode (memory/redis, or a failure mode while Redis is out). */
  readonly onModeChange?: (route: RouteIR, mode: string, previous: string) => void;
  /** Degradation state (triggers, feature toggles) of this config: adopted from the running config when unchanged, in force on commit. */
  readonly degradation?: PendingDegradation;
  /** Whether a route's DegradationPolicy trigger holds now (fallback.whenTriggered); none: never. */
  readonly triggers?: TriggerState;
  /** The metric cell of a fallback step's result (route id, step name, result); none: not counted. */
  readonly fallbackCells?: (route: string, step: string, result: string) => Cell;
  /** Queues (gates adopted from the running config when unchanged, job routes, dead-letter streams); put in force on commit. */
  readonly queues?: QueueBuild;
}
