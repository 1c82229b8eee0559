/**
 * The operator's pipeline: informers (watch/) → translate (the shared translator) → IR → one
 * consistent xDS snapshot per gateway group (xds/) → status (status/, leader only).
 *
 * Translation runs on a coalescing queue (≤ 100 ms after the last change, ≤ 1 s after the first).
 * Status runs on its own queue, fed by translations and by xDS events (ACK, NACK, connects), so
 * that `Enforced` follows the gateways without retranslating.
 */
import {
  BACKEND_TYPE_URL,
  GATEWAY_TYPE_URL,
  LastAccepted,
  encodeResources,
  type GatewayIR,
  type IR,
  type PolicyRef,
  type RetainingResult,
} from '@jarvis/api';
import type { Clock, Scheduler } from './clock.js';
import type { KubeClient } from './kube/client.js';
import type { Logger } from './observe/log.js';
import type { Metrics } from './observe/metrics.js';
import { affectedConditions, routePolicies } from './status/affected.js';
import { EnforcementTracker, type GatewayView } from './status/enforcement.js';
import { GatewayStatusWriter, type GatewayOutcome } from './status/gateways.js';
import { programmed } from './status/programmed.js';
import { StatusWriter, type PolicyOutcome, type RouteOutcome } from './status/writer.js';
import { Informer, type KubeObject } from './watch/informer.js';
import { CoalescingQueue } from './watch/queue.js';
import { SOURCES, apiVersionOf, collectionPath } from './watch/sources.js';
import { makeSnapshot, snapshotFromResources, type GatewayStatus, type Snapshot, type SnapshotCache } from './xds/index.js';

export interface ReconcilerOptions {
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly controllerName: string;
  readonly identity: string;
  readonly namespace?: string;
  readonly resyncMs: number;
  readonly cache: SnapshotCache;
  /** The xDS server's view of connected gateways. */
  readonly gateways: () => readonly GatewayStatus[];
}

type Translated = RetainingResult;

/** Backend ids a gateway's routes can send to: route backends and fallback steps. */
function backendsOf(gateway: GatewayIR): Set<string> {
  const ids = new Set<string>();
  for (const route of gateway.routes) {
    for (const b of route.backends) ids.add(b.backend);
    for (const step of route.degradation?.fallback?.chain ?? []) if (step.backend !== undefined) ids.add(step.backend);
  }
  return ids;
}

/** Responses that keep backends being removed carry `<version>+retain`; they hold the new content too. */
export function baseVersion(version: string): string {
  return version.endsWith('+retain') ? version.slice(0, -'+retain'.length) : version;
}

export class Reconciler {
  readonly informers: Informer[];
  readonly tracker = new EnforcementTracker();
  readonly #o: ReconcilerOptions;
  readonly #translateQueue: CoalescingQueue;
  readonly #statusQueue: CoalescingQueue;
  readonly #writer: StatusWriter;
  readonly #gatewayWriter: GatewayStatusWriter;
  /** Per object, its last version not rejected in itself: served while a newer one is (translate/retain.ts). */
  readonly #lastAccepted = new LastAccepted();
  #last: Translated | undefined;
  #groups = new Set<string>();
  #leader = false;
  #snapshots = 0;
  /** Streams already warned about asking for a Gateway we do not serve (pruned to connected ones). */
  #warnedStreams = new Set<string>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    const queueOptions = (what: string) => ({
      debounceMs: 100,
      maxDelayMs: 1000,
      clock: options.clock,
      scheduler: options.scheduler,
      onError: (err: unknown) => {
        options.metrics.reconciles.inc({ result: 'error' });
        options.log.error(`${what} failed`, { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      },
    });
    this.#translateQueue = new CoalescingQueue(() => this.#reconcile(), queueOptions('reconcile'));
    this.#statusQueue = new CoalescingQueue(() => this.#writeStatus(), queueOptions('status'));
    this.#writer = new StatusWriter({
      client: options.client,
      clock: options.clock,
      log: options.log,
      metrics: options.metrics,
      controllerName: options.controllerName,
      reportingInstance: options.identity,
    });
    this.#gatewayWriter = new GatewayStatusWriter({
      client: options.client,
      clock: options.clock,
      log: options.log,
      metrics: options.metrics,
    });
    this.informers = SOURCES.map(
      (source) =>
        new Informer({
          name: source.name,
          path: collectionPath(source, options.namespace),
          apiVersion: apiVersionOf(source),
          kind: source.kind,
          client: options.client,
          clock: options.clock,
          scheduler: options.scheduler,
          log: options.log,
          resyncMs: options.resyncMs,
          ...(source.labelSelector ? { labelSelector: source.labelSelector } : {}),
          ...(source.optional ? { optional: true } : {}),
          onChange: () => {
            this.#translateQueue.trigger();
            options.metrics.queueDepth.set(this.#translateQueue.depth);
          },
        }),
    );
  }

  /** Informers synced and a first config published. */
  get ready(): boolean {
    return this.informers.every((i) => i.synced) && this.#snapshots > 0;
  }

  get lastResult(): Translated | undefined {
    return this.#last;
  }

  start(): void {
    for (const informer of this.informers) informer.start();
  }

  stop(): void {
    for (const informer of this.informers) informer.stop();
    this.#translateQueue.stop();
    this.#statusQueue.stop();
  }

  setLeader(leader: boolean): void {
    this.#leader = leader;
    this.#o.metrics.leader.set(leader ? 1 : 0);
    if (leader) this.#statusQueue.trigger();
  }

  /** Called on xDS events: the Enforced conditions may have changed. */
  gatewaysChanged(): void {
    this.#statusQueue.trigger();
  }

  #lookup = (plural: string, namespace: string, name: string): KubeObject | undefined => {
    return this.informers.find((i) => i.name === plural)?.get(namespace, name);
  };

  async #reconcile(): Promise<void> {
    if (!this.informers.every((i) => i.synced)) {
      // A partial view would delete what is not listed yet: wait for every first list.
      this.#o.scheduler.after(100, () => this.#translateQueue.trigger());
      return;
    }
    const started = this.#o.clock.now();
    this.#o.metrics.queueDepth.set(0);
    const objects = this.informers.flatMap((i) => i.list());
    const result = this.#lastAccepted.translate({ objects }, { controllerName: this.#o.controllerName });
    for (const p of result.problems)
      this.#o.log.warn('object not translated', { kind: p.kind, namespace: p.namespace, name: p.name, path: p.path, message: p.message });
    this.#o.metrics.retainedObjects.reset();
    for (const r of result.retained) {
      this.#o.metrics.retainedObjects.inc({ kind: r.kind });
      if (!r.fresh) continue;
      this.#o.metrics.rejectedChanges.inc({ kind: r.kind });
      this.#o.log.warn('change rejected; the previous version keeps serving', {
        kind: r.kind,
        namespace: r.namespace,
        name: r.name,
        generation: r.generation,
        servingGeneration: r.servingGeneration,
        reason: r.reason,
      });
    }
    this.#publish(result.ir);
    this.#last = result;
    this.#o.metrics.reconcileDuration.observe((this.#o.clock.now() - started) / 1000);
    this.#o.metrics.reconciles.inc({ result: 'ok' });
    this.#o.metrics.policies.reset();
    for (const p of result.policies) this.#o.metrics.policies.inc({ kind: p.ref.kind, reason: p.accepted.reason });
    this.#statusQueue.trigger();
  }

  #publish(ir: IR): void {
    const encoded = encodeResources(ir);
    const backendsById = new Map(ir.backends.map((b) => [b.id, b]));
    const groups = new Set<string>();
    for (const gateway of ir.gateways) {
      groups.add(gateway.id);
      const backendIds = backendsOf(gateway);
      const snapshot = snapshotFromResources(encoded, { gateways: [gateway.id], backends: [...backendIds].sort() });
      const backendPolicies: PolicyRef[] = [];
      let endpoints = 0;
      for (const id of backendIds) {
        backendPolicies.push(...(backendsById.get(id)?.policies ?? []));
        endpoints += backendsById.get(id)?.endpoints.length ?? 0;
      }
      this.#set(gateway.id, snapshot, gateway.policies, backendPolicies, { routes: gateway.routes.length, endpoints });
    }
    // A Gateway that went away: its gateways drop their config.
    for (const group of this.#groups) {
      if (!groups.has(group))
        this.#set(group, makeSnapshot({ [BACKEND_TYPE_URL]: { resources: [] }, [GATEWAY_TYPE_URL]: { resources: [] } }), [], []);
    }
    this.#groups = groups;
    this.#snapshots++;
    this.#o.metrics.snapshotVersion.set(this.#snapshots);
    this.warnUnknownGateways();
  }

  /**
   * Warns (once per stream) about each connected gateway that asks for a Gateway this operator
   * does not serve: such a gateway gets no config at all. Called after each publish and when a
   * gateway connects; before the first publish nothing is known yet.
   */
  warnUnknownGateways(): void {
    if (this.#snapshots === 0) return;
    const connected = new Set<string>();
    for (const g of this.#o.gateways()) {
      connected.add(g.streamId);
      if (this.#groups.has(g.group)) {
        this.#warnedStreams.delete(g.streamId);
        continue;
      }
      if (this.#warnedStreams.has(g.streamId)) continue;
      this.#warnedStreams.add(g.streamId);
      const serving = [...this.#groups].sort();
      this.#o.log.warn(
        `gateway ${g.nodeId} asks for Gateway ${g.group}, which this operator does not serve: no Gateway of that name has a GatewayClass with controllerName ${this.#o.controllerName}. Start the gateway with --gateway set to one of the Gateways served, or create that Gateway`,
        {
          node: g.nodeId,
          group: g.group,
          serving: serving.length > 10 ? [...serving.slice(0, 10), `… and ${serving.length - 10} more`] : serving,
        },
      );
    }
    for (const id of this.#warnedStreams) if (!connected.has(id)) this.#warnedStreams.delete(id);
  }

  #set(
    group: string,
    snapshot: Snapshot,
    gatewayPolicies: readonly PolicyRef[],
    backendPolicies: readonly PolicyRef[],
    counts?: { routes: number; endpoints: number },
  ): void {
    const before = this.#o.cache.getSnapshot(group);
    const version = (s: Snapshot | undefined, typeUrl: string) => s?.types.get(typeUrl)?.version;
    const gatewayVersion = version(snapshot, GATEWAY_TYPE_URL);
    const backendsVersion = version(snapshot, BACKEND_TYPE_URL);
    if (version(before, GATEWAY_TYPE_URL) !== gatewayVersion || version(before, BACKEND_TYPE_URL) !== backendsVersion)
      this.#o.log.info(counts ? 'config published' : 'config published: the Gateway is gone, its gateways drop their config', {
        gateway: group,
        gatewayVersion,
        backendsVersion,
        routes: counts?.routes ?? 0,
        policies: new Set([...gatewayPolicies, ...backendPolicies].map((p) => `${p.kind}/${p.namespace}/${p.name}`)).size,
        backends: snapshot.types.get(BACKEND_TYPE_URL)?.resources.size ?? 0,
        endpoints: counts?.endpoints ?? 0,
      });
    for (const [typeUrl, policies] of [
      [GATEWAY_TYPE_URL, gatewayPolicies],
      [BACKEND_TYPE_URL, backendPolicies],
    ] as const) {
      const version = snapshot.types.get(typeUrl)?.version;
      if (version !== undefined) this.tracker.record(group, typeUrl, version, policies);
    }
    this.#o.cache.setSnapshot(group, snapshot);
  }

  #views(): GatewayView[] {
    return this.#o.gateways().map((g) => ({
      nodeId: g.nodeId,
      group: g.group,
      acked: Object.fromEntries(Object.entries(g.acked).map(([t, v]) => [t, baseVersion(v)])),
      nacked: g.nacked ?? {},
      features: new Set(g.features),
    }));
  }

  async #writeStatus(): Promise<void> {
    const result = this.#last;
    if (!this.#leader || !result) return;
    const views = this.#views();
    const outcomes: PolicyOutcome[] = result.policies.map((p) => ({
      ref: p.ref,
      accepted: p.accepted,
      enforced: p.accepted.status
        ? this.tracker.enforced(p.ref, views, { features: p.features ?? [], ...(p.overriddenBy ? { overriddenBy: p.overriddenBy } : {}) })
        : { status: false, reason: 'NotEnforced', message: `Not accepted (${p.accepted.reason}).` },
      ...(p.resolvedRefs ? { resolvedRefs: p.resolvedRefs } : {}),
    }));
    await this.#writer.writePolicies(outcomes, this.#lookup);
    const gatewaysById = new Map(result.ir.gateways.map((g) => [g.id, g]));
    const backendsById = new Map(result.ir.backends.map((b) => [b.id, b]));
    const routes: RouteOutcome[] = result.routes.map((r) => {
      const gateway = gatewaysById.get(`${r.parentRef.namespace}/${r.parentRef.name}`);
      const affected =
        gateway && r.accepted.status ? affectedConditions(routePolicies(gateway, backendsById, r.route.namespace, r.route.name)) : [];
      return {
        namespace: r.route.namespace,
        name: r.route.name,
        generation: r.route.generation,
        parentRef: r.parentRef,
        accepted: r.accepted,
        resolvedRefs: r.resolvedRefs,
        affected,
      };
    });
    await this.#writer.writeRoutes(routes, this.#lookup);
    await this.#gatewayWriter.writeClasses(result.gatewayClasses, this.#lookup);
    const gateways: GatewayOutcome[] = result.gateways.map((g) => {
      const targeting = result.policies.filter(
        (p) => p.accepted.status && (p.targets ?? []).some((t) => t.kind === 'Gateway' && t.namespace === g.namespace && t.name === g.name),
      );
      return {
        result: g,
        programmed: programmed(`${g.namespace}/${g.name}`, views, this.tracker),
        affected: affectedConditions(targeting.map((p) => p.ref)),
      };
    });
    await this.#gatewayWriter.writeGateways(gateways, this.#lookup);
  }
}
