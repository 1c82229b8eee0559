/**
 * Gateway API status of our GatewayClasses and Gateways: the class Accepted; each Gateway Accepted,
 * Programmed (status/programmed.ts), the `<Kind>Affected` conditions of the policies that target
 * it, and one status per listener (supported kinds, attached routes, Accepted, ResolvedRefs,
 * Conflicted, Programmed). Other controllers may write conditions there too: only ours are set or
 * removed, every other one is kept, and the write carries the resourceVersion it was computed
 * from (a conflict is retried on the next pass, which the object's change triggers). Nothing is
 * written when nothing a reader can see has changed.
 */
import type { Condition, GatewayClassResult, GatewayResult } from '@jarvis/api';
import type { Clock } from '../clock.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { KubeObject } from '../watch/informer.js';
import { GATEWAYS, GATEWAY_CLASSES, objectPath } from '../watch/sources.js';
import { isAffectedType } from './affected.js';
import { mergeConditions, mergeOwnedConditions, type WantedCondition } from './conditions.js';

const MERGE_PATCH = 'application/merge-patch+json';
/** Gateway API bounds status.conditions (and each listener's) at 8 entries. */
const MAX_CONDITIONS = 8;

/** A Gateway's status as the operator concludes it. */
export interface GatewayOutcome {
  readonly result: GatewayResult;
  readonly programmed: WantedCondition;
  /** `<Kind>Affected` conditions, one per kind of the policies that target the Gateway. */
  readonly affected: readonly WantedCondition[];
}

type Lookup = (plural: string, namespace: string, name: string) => KubeObject | undefined;

interface ListenerStatus {
  name: string;
  supportedKinds: { group: string; kind: string }[];
  attachedRoutes: number;
  conditions: Condition[];
}

interface GatewayStatusBody {
  conditions?: Condition[];
  listeners?: ListenerStatus[];
  [k: string]: unknown;
}

const isOurGatewayCondition = (type: string) => type === 'Accepted' || type === 'Programmed' || isAffectedType(type);

export class GatewayStatusWriter {
  constructor(
    private readonly o: {
      client: KubeClient;
      clock: Clock;
      log: Logger;
      metrics: Metrics;
    },
  ) {}

  #now(): string {
    return new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  async writeClasses(classes: readonly GatewayClassResult[], lookup: Lookup): Promise<void> {
    for (const c of classes) {
      const current = lookup(GATEWAY_CLASSES.plural, '', c.name);
      if (!current) continue;
      const generation = (current.metadata as { generation?: number }).generation ?? c.generation;
      const status = (current as { status?: { conditions?: Condition[] } }).status;
      const update = mergeOwnedConditions(
        status?.conditions,
        [{ type: 'Accepted', ...c.accepted }],
        (t) => t === 'Accepted',
        generation,
        this.#now(),
      );
      if (!update.changed) continue;
      await this.#patch(GATEWAY_CLASSES.kind, objectPath(GATEWAY_CLASSES, undefined, c.name), current, {
        ...status,
        conditions: update.conditions,
      });
    }
  }

  async writeGateways(outcomes: readonly GatewayOutcome[], lookup: Lookup): Promise<void> {
    for (const o of outcomes) await this.#writeGateway(o, lookup);
  }

  async #writeGateway(o: GatewayOutcome, lookup: Lookup): Promise<void> {
    const { namespace, name } = o.result;
    const current = lookup(GATEWAYS.plural, namespace, name);
    if (!current) return;
    const generation = (current.metadata as { generation?: number }).generation ?? o.result.generation;
    if (generation !== o.result.generation) return; // a newer generation is on its way through the pipeline
    const status = ((current as { status?: GatewayStatusBody }).status ?? {}) as GatewayStatusBody;
    const now = this.#now();
    const existing = status.conditions ?? [];
    const others = existing.filter((c) => !isOurGatewayCondition(c.type)).length;
    // The list holds 8: what other controllers wrote stays; Affected conditions beyond the room are left out.
    const room = Math.max(0, MAX_CONDITIONS - others - 2);
    if (o.affected.length > room)
      this.o.log.warn('Gateway status has no room for every Affected condition', { namespace, name, kept: room, of: o.affected.length });
    const wanted: WantedCondition[] = [{ type: 'Accepted', ...o.result.accepted }, o.programmed, ...o.affected.slice(0, room)];
    const conditions = mergeOwnedConditions(existing, wanted, isOurGatewayCondition, generation, now);

    let listenersChanged = (status.listeners ?? []).length !== o.result.listeners.length;
    const listeners: ListenerStatus[] = o.result.listeners.map((l) => {
      const old = (status.listeners ?? []).find((x) => x.name === l.name);
      const valid = l.accepted.status && l.resolvedRefs.status;
      const update = mergeConditions(
        old?.conditions,
        [
          { type: 'Accepted', ...l.accepted },
          { type: 'ResolvedRefs', ...l.resolvedRefs },
          { type: 'Conflicted', ...l.conflicted },
          valid
            ? { ...o.programmed }
            : {
                type: 'Programmed',
                status: false,
                reason: 'Invalid',
                message: 'The listener is not valid (see Accepted and ResolvedRefs).',
              },
        ],
        generation,
        now,
      );
      const next: ListenerStatus = {
        name: l.name,
        supportedKinds: l.supportedKinds.map((k) => ({ group: k.group, kind: k.kind })),
        attachedRoutes: l.attachedRoutes,
        conditions: update.conditions,
      };
      if (
        update.changed ||
        !old ||
        old.attachedRoutes !== next.attachedRoutes ||
        JSON.stringify(old.supportedKinds) !== JSON.stringify(next.supportedKinds)
      )
        listenersChanged = true;
      return next;
    });
    if (!conditions.changed && !listenersChanged) return;
    await this.#patch(GATEWAYS.kind, objectPath(GATEWAYS, namespace, name), current, {
      ...status,
      conditions: conditions.conditions,
      listeners,
    });
  }

  async #patch(kind: string, path: string, current: KubeObject, status: GatewayStatusBody): Promise<void> {
    const body = { metadata: { resourceVersion: current.metadata.resourceVersion }, status };
    const res = await this.o.client
      .request('PATCH', `${path}/status`, body, MERGE_PATCH)
      .catch((err: unknown) => ({ status: 0, body: String(err) }));
    const ok = res.status >= 200 && res.status < 300;
    this.o.metrics.statusWrites.inc({ result: ok ? 'ok' : res.status === 409 ? 'conflict' : res.status === 404 ? 'gone' : 'error' });
    if (ok) {
      (current as { status?: unknown }).status = status; // the next pass sees what was written
      return;
    }
    if (res.status !== 409 && res.status !== 404)
      this.o.log.warn('status write failed', {
        kind,
        name: current.metadata.name,
        namespace: current.metadata.namespace,
        status: res.status,
      });
  }
}
