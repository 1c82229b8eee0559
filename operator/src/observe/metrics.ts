/**
 * Prometheus metrics of the operator. Labels are bounded: kinds, type URLs, results — never names.
 * prom-client's default process metrics come with them, including three gauges named like
 * counters: `jarvis_operator_nodejs_active_{handles,requests,resources}_total` (prom-client's
 * names, kept so that Node.js dashboards work; do not rate() them).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Counts requests to the apiserver by verb (read at scrape time). */
export type RequestCounts = () => ReadonlyMap<string, number>;

export function createMetrics(requestCounts: RequestCounts = () => new Map()) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'jarvis_operator_' });
  const m = {
    registry,
    reconcileDuration: new Histogram({
      name: 'jarvis_operator_reconcile_duration_seconds',
      help: 'Time to translate the cluster state into a config and publish it.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'jarvis_operator_reconciles_total',
      help: 'Reconciles by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: 'jarvis_operator_queue_depth', help: 'Changes waiting for the next reconcile.', registers: [registry] }),
    snapshotVersion: new Gauge({
      name: 'jarvis_operator_snapshot_generation',
      help: 'Number of config snapshots published since start (increases with every change).',
      registers: [registry],
    }),
    connectedGateways: new Gauge({
      name: 'jarvis_operator_connected_gateways',
      help: 'Gateways with an open xDS stream.',
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'jarvis_operator_xds_pushes_total',
      help: 'xDS responses sent.',
      labelNames: ['type'],
      registers: [registry],
    }),
    acks: new Counter({ name: 'jarvis_operator_xds_acks_total', help: 'xDS ACKs received.', labelNames: ['type'], registers: [registry] }),
    nacks: new Counter({
      name: 'jarvis_operator_xds_nacks_total',
      help: 'xDS NACKs received.',
      labelNames: ['type'],
      registers: [registry],
    }),
    pushLatency: new Histogram({
      name: 'jarvis_operator_xds_push_to_ack_seconds',
      help: 'Time from publishing a snapshot to a gateway ACKing it.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    policies: new Gauge({
      name: 'jarvis_operator_policies',
      help: 'Policies by kind and Accepted reason.',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    }),
    rejectedChanges: new Counter({
      name: 'jarvis_operator_rejected_changes_total',
      help: 'Changes rejected in themselves (an HTTPRoute pattern RE2 cannot compile, an Invalid policy, an object that does not parse) while the previous version keeps serving, by kind; each rejected generation counts once.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    retainedObjects: new Gauge({
      name: 'jarvis_operator_retained_objects',
      help: 'Objects served from their last accepted version because the current one is rejected, by kind.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: 'jarvis_operator_status_writes_total',
      help: 'Status writes by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: 'jarvis_operator_apiserver_requests_total',
      help: 'Requests sent to the apiserver since start, by verb (WATCH counts watch starts).',
      labelNames: ['verb'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [verb, n] of requestCounts()) this.inc({ verb }, n);
      },
    }),
    leader: new Gauge({ name: 'jarvis_operator_leader', help: '1 when this replica holds the lease.', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
