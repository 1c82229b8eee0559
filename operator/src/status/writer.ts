/**
 * Writes what the operator concluded back to the cluster: policy conditions (Accepted, Enforced,
 * and ResolvedRefs for a ClientIdentityPolicy) with observedGeneration, HTTPRoute parent status for
 * our Gateways (Accepted, ResolvedRefs, and a `<Kind>Affected` condition per kind of the policies
 * that act on the route), and Events for rejections.
 * Nothing is written when nothing a reader can see has changed. Only the leader calls this.
 */
import { pushTo, type Condition, type PolicyRef } from '@jarvis/api';
import type { Clock } from '../clock.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { KubeObject } from '../watch/informer.js';
import { HTTPROUTES, objectPath, SOURCES } from '../watch/sources.js';
import { mergeConditions, type WantedCondition } from './conditions.js';
import type { EnforcedCondition } from './enforcement.js';

export interface AcceptedCondition {
  readonly status: boolean;
  readonly reason: string;
  readonly message: string;
}

export interface PolicyOutcome {
  readonly ref: PolicyRef;
  readonly accepted: AcceptedCondition;
  readonly enforced: EnforcedCondition;
  /** ClientIdentityPolicy: whether the Secrets it names are there and usable. */
  readonly resolvedRefs?: AcceptedCondition;
}

export interface ParentRefOut {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

export interface RouteOutcome {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly parentRef: ParentRefOut;
  readonly accepted: AcceptedCondition;
  readonly resolvedRefs: AcceptedCondition;
  /** `<Kind>Affected` conditions: the policies that act on the route through this parent. */
  readonly affected?: readonly WantedCondition[];
}

const MERGE_PATCH = 'application/merge-patch+json';
const CONCURRENCY = 8;

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

type Lookup = (plural: string, namespace: string, name: string) => KubeObject | undefined;

export class StatusWriter {
  constructor(
    private readonly o: {
      client: KubeClient;
      clock: Clock;
      log: Logger;
      metrics: Metrics;
      controllerName: string;
      reportingInstance: string;
    },
  ) {}

  async writePolicies(outcomes: readonly PolicyOutcome[], lookup: Lookup): Promise<void> {
    await inBatches(outcomes, (o) => this.#writePolicy(o, lookup));
  }

  async #writePolicy(outcome: PolicyOutcome, lookup: Lookup): Promise<void> {
    const source = SOURCES.find((k) => k.kind === outcome.ref.kind);
    if (!source) return;
    const { namespace, name, generation } = outcome.ref;
    const current = lookup(source.plural, namespace, name);
    if (!current) return; // deleted meanwhile
    const liveGeneration = (current.metadata as { generation?: number }).generation ?? generation;
    if (liveGeneration !== generation) return; // a newer generation is on its way through the pipeline
    const status = (current as { status?: { conditions?: Condition[]; observedGeneration?: number } }).status;
    const wanted: WantedCondition[] = [
      { type: 'Accepted', ...outcome.accepted },
      { type: 'Enforced', status: outcome.enforced.status, reason: outcome.enforced.reason, message: outcome.enforced.message },
      ...(outcome.resolvedRefs ? [{ type: 'ResolvedRefs', ...outcome.resolvedRefs }] : []),
    ];
    const nowIso = new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const update = mergeConditions(status?.conditions, wanted, generation, nowIso);
    if (!update.changed && status?.observedGeneration === generation) return;
    const path = `${objectPath(source, namespace, name)}/status`;
    const res = await this.o.client
      .request('PATCH', path, { status: { observedGeneration: generation, conditions: update.conditions } }, MERGE_PATCH)
      .catch((err: unknown) => ({ status: 0, body: String(err) }));
    const ok = res.status >= 200 && res.status < 300;
    this.o.metrics.statusWrites.inc({ result: ok ? 'ok' : res.status === 404 ? 'gone' : 'error' });
    if (!ok && res.status !== 404) {
      this.o.log.warn('status write failed', { kind: source.kind, namespace, name, status: res.status });
      return;
    }
    if (ok) {
      // Keep the cached copy in step so that the next pass sees what was written.
      (current as { status?: unknown }).status = { observedGeneration: generation, conditions: update.conditions };
    }
    const wasAccepted = status?.conditions?.find((c) => c.type === 'Accepted');
    const rejectedNow = !outcome.accepted.status && (wasAccepted?.status !== 'False' || wasAccepted.reason !== outcome.accepted.reason);
    if (ok && rejectedNow) await this.#event(source.kind, current, outcome.accepted.reason, outcome.accepted.message);
  }

  async #event(kind: string, obj: KubeObject, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const nowIso = new Date(this.o.clock.now()).toISOString();
    const meta = obj.metadata as { uid?: string; resourceVersion?: string };
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${obj.metadata.name}.`, namespace: ns },
      involvedObject: {
        apiVersion: 'stability.jarvis.io/v1alpha1',
        kind,
        name: obj.metadata.name,
        namespace: ns,
        ...(meta.uid ? { uid: meta.uid } : {}),
        ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      },
      reason,
      message: message.slice(0, 1024),
      type: 'Warning',
      source: { component: 'jarvis-operator' },
      reportingComponent: this.o.controllerName,
      reportingInstance: this.o.reportingInstance,
      firstTimestamp: nowIso,
      lastTimestamp: nowIso,
      count: 1,
    };
    const res = await this.o.client
      .request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event)
      .catch((err: unknown) => ({ status: 0, body: String(err) }));
    if (res.status >= 300 || res.status === 0) this.o.log.warn('event write failed', { kind, name: obj.metadata.name, status: res.status });
  }

  /** Sets our entries of status.parents on each HTTPRoute, keeping other controllers' entries. */
  async writeRoutes(outcomes: readonly RouteOutcome[], lookup: Lookup): Promise<void> {
    const byRoute = new Map<string, RouteOutcome[]>();
    for (const o of outcomes) {
      const key = `${o.namespace}/${o.name}`;
      pushTo(byRoute, key, o);
    }
    await inBatches([...byRoute.values()], (list) => this.#writeRoute(list, lookup));
  }

  async #writeRoute(list: readonly RouteOutcome[], lookup: Lookup): Promise<void> {
    const first = list[0];
    if (!first) return;
    const current = lookup('httproutes', first.namespace, first.name);
    if (!current) return;
    const generation = (current.metadata as { generation?: number }).generation ?? first.generation;
    if (generation !== first.generation) return;
    type Parent = { parentRef: ParentRefOut; controllerName: string; conditions?: Condition[] };
    const parents = ((current as { status?: { parents?: Parent[] } }).status?.parents ?? []).slice(0, 32);
    const nowIso = new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const sameRef = (a: ParentRefOut, b: ParentRefOut) =>
      a.name === b.name &&
      (a.namespace ?? '') === (b.namespace ?? '') &&
      (a.sectionName ?? '') === (b.sectionName ?? '') &&
      (a.port ?? 0) === (b.port ?? 0);
    let changed = false;
    const ours: Parent[] = list.map((o) => {
      const old = parents.find((p) => p.controllerName === this.o.controllerName && sameRef(p.parentRef, o.parentRef));
      const update = mergeConditions(
        old?.conditions,
        [
          { type: 'Accepted', ...o.accepted },
          { type: 'ResolvedRefs', ...o.resolvedRefs },
          // RouteParentStatus holds at most 8 conditions.
          ...(o.affected ?? []).slice(0, 6),
        ],
        generation,
        nowIso,
      );
      if (update.changed || !old) changed = true;
      return { parentRef: o.parentRef, controllerName: this.o.controllerName, conditions: update.conditions };
    });
    const others = parents.filter((p) => p.controllerName !== this.o.controllerName);
    const staleOurs = parents.filter(
      (p) => p.controllerName === this.o.controllerName && !ours.some((n) => sameRef(n.parentRef, p.parentRef)),
    );
    if (!changed && staleOurs.length === 0) return;
    const body = {
      metadata: { resourceVersion: current.metadata.resourceVersion },
      status: { parents: [...others, ...ours] },
    };
    const path = `${objectPath(HTTPROUTES, first.namespace, first.name)}/status`;
    const res = await this.o.client.request('PATCH', path, body, MERGE_PATCH).catch((err: unknown) => ({ status: 0, body: String(err) }));
    this.o.metrics.statusWrites.inc({ result: res.status >= 200 && res.status < 300 ? 'ok' : res.status === 409 ? 'conflict' : 'error' });
    if (res.status >= 200 && res.status < 300) (current as { status?: unknown }).status = body.status;
  }
}
