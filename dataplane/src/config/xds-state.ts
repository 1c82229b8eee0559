/**
 * What a gateway holds from the operator, and what it answers to each xDS response (State of the
 * World): the accepted BackendResources and the GatewayResource of its own group. No gRPC here,
 * so the rules are unit-tested on their own (xds-state.test.ts); config/xds.ts wires them to the
 * ADS client.
 *
 * - Backends. A response is validated as a whole. Once a Gateway is held, the Gateway is compiled
 *   again with the new backends — endpoints change on every pod rollout while the Gateway stays
 *   the same — and the response is ACKed only if that compile succeeds. Otherwise it is NACKed
 *   with the reason, and both the running config and the held backends stay as they were.
 * - Make-before-break (see operator/src/xds/stream.ts): the operator sends new backends before the
 *   Gateway that references them, and removes a backend only after the gateway has ACKed a
 *   Gateway that no longer uses it. Should a backends response still lack a backend the running
 *   Gateway routes to (a server that did not know what this gateway held, e.g. after a restart
 *   from the state dir), the running definition of that backend is kept for the compile until the
 *   Gateway moves on: a route is never broken before its new config arrives.
 * - Gateway. Validated, its backend references checked against the accepted backends, compiled
 *   with them; NACKed otherwise. A response without our Gateway keeps the running config.
 * - A response whose content equals what is held is ACKed without compiling again.
 */
import { createHash } from 'node:crypto';
import { validateBackendResource, validateGatewayResource, type BackendIR, type DecodedResource, type GatewayIR } from '@jarvis/api';
import type { ApplyConfig, ApplyResult, GatewayConfig } from './types.js';

/** An IR object with the content hash it arrived with (undefined: from the state dir). */
interface Held<T> {
  readonly ir: T;
  readonly hash: string | undefined;
}

export type XdsDecision = { ok: true; applied?: GatewayConfig } | { ok: false; error: string };

/**
 * Whether the operator has sent this gateway's Gateway: not yet (`unknown`), in its last gateway
 * response (`present`), or its last gateway response did not name it (`absent`).
 */
export type GatewayListing = 'unknown' | 'present' | 'absent';

/** The version of a config from the operator: its content, so equal content has equal versions. */
export function xdsConfigVersion(gateway: GatewayIR, backends: readonly BackendIR[]): string {
  return `xds-${createHash('sha256').update(JSON.stringify({ gateway, backends })).digest('hex').slice(0, 16)}`;
}

function sameBackends(a: ReadonlyMap<string, Held<BackendIR>>, b: ReadonlyMap<string, Held<BackendIR>>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, held] of a) {
    const other = b.get(id);
    if (other === undefined || held.hash === undefined || other.hash !== held.hash) return false;
  }
  return true;
}

/** Backend ids the routes of a gateway send to. */
function referenced(gateway: GatewayIR): Set<string> {
  const ids = new Set<string>();
  for (const r of gateway.routes) for (const b of r.backends) ids.add(b.backend);
  return ids;
}

const firstErrors = (errors: readonly string[]) => errors.slice(0, 5).join('; ');

/** `then` for a result that is a promise only when the apply took its time. */
function after(applied: ApplyResult | Promise<ApplyResult>, next: (a: ApplyResult) => XdsDecision): XdsDecision | Promise<XdsDecision> {
  return applied instanceof Promise ? applied.then(next) : next(applied);
}

export class XdsConfigState {
  /** The accepted backends: exactly the last ACKed BackendResource set. */
  #backends = new Map<string, Held<BackendIR>>();
  /** The Gateway of the running config. */
  #gateway: Held<GatewayIR> | undefined;
  /** The backends of the running config (the accepted ones, plus any kept for make-before-break). */
  #running: readonly BackendIR[] = [];
  #listing: GatewayListing = 'unknown';

  /**
   * @param group `<namespace>/<gateway>`: the GatewayResource this gateway serves.
   * @param initial the running config when there is one already (the last good config on disk).
   */
  constructor(
    private readonly group: string,
    private readonly apply: ApplyConfig,
    initial?: GatewayConfig,
  ) {
    if (initial) {
      this.#gateway = { ir: initial.gateway, hash: undefined };
      for (const b of initial.backends) this.#backends.set(b.id, { ir: b, hash: undefined });
      this.#running = initial.backends;
    }
  }

  get listing(): GatewayListing {
    return this.#listing;
  }

  /** A BackendResource response (a promise when the compile takes its time: see ApplyConfig). */
  onBackends(resources: readonly DecodedResource[]): XdsDecision | Promise<XdsDecision> {
    const next = new Map<string, Held<BackendIR>>();
    for (const r of resources) {
      const checked = validateBackendResource(r.payload);
      if (!checked.ok) return { ok: false, error: `backend ${r.name}: ${firstErrors(checked.errors)}` };
      next.set(checked.backend.id, { ir: checked.backend, hash: r.contentHash });
    }
    const gateway = this.#gateway;
    if (gateway === undefined) {
      this.#backends = next;
      return { ok: true };
    }
    if (sameBackends(this.#backends, next)) return { ok: true }; // what is held (and running) already
    const backends = [...next.values()].map((h) => h.ir);
    const kept = new Set(next.keys());
    const uses = referenced(gateway.ir);
    for (const b of this.#running) if (uses.has(b.id) && !kept.has(b.id)) backends.push(b);
    const config = this.#config(gateway.ir, backends);
    return after(this.apply(config), (applied) => {
      if (!applied.ok) return { ok: false, error: `backends do not compile with Gateway ${this.group}: ${applied.error}` };
      this.#backends = next;
      this.#running = config.backends;
      return { ok: true, applied: config };
    });
  }

  /** A GatewayResource response (a promise when the compile takes its time). */
  onGateways(resources: readonly DecodedResource[]): XdsDecision | Promise<XdsDecision> {
    const mine = resources.find((r) => r.name === this.group);
    if (!mine) {
      // Our Gateway is gone (or was never known): keep serving the running config.
      this.#listing = 'absent';
      return { ok: true };
    }
    // The operator serves our Gateway (a rejected one is reported with its NACK, not as missing).
    this.#listing = 'present';
    const checked = validateGatewayResource(mine.payload);
    if (!checked.ok) return { ok: false, error: `gateway ${mine.name}: ${firstErrors(checked.errors)}` };
    const gateway = checked.gateway;
    const missing = [...referenced(gateway)].filter((id) => !this.#backends.has(id));
    if (missing.length > 0) return { ok: false, error: `gateway ${mine.name} references unknown backends: ${missing.join(', ')}` };
    if (this.#gateway?.hash !== undefined && this.#gateway.hash === mine.contentHash && this.#runningIsAccepted()) return { ok: true };
    const config = this.#config(
      gateway,
      [...this.#backends.values()].map((h) => h.ir),
    );
    return after(this.apply(config), (applied) => {
      if (!applied.ok) return applied;
      this.#gateway = { ir: gateway, hash: mine.contentHash };
      this.#running = config.backends;
      return { ok: true, applied: config };
    });
  }

  /** Whether the running config uses exactly the accepted backends (nothing kept beside them). */
  #runningIsAccepted(): boolean {
    return this.#running.length === this.#backends.size && this.#running.every((b) => this.#backends.get(b.id)?.ir === b);
  }

  #config(gateway: GatewayIR, backends: BackendIR[]): GatewayConfig {
    backends.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { gateway, backends, source: 'xds', version: xdsConfigVersion(gateway, backends) };
  }
}
