/**
 * Leader election on a coordination.k8s.io/v1 Lease. Only the leader writes status; every replica
 * watches and serves xDS. Expiry is judged by when this replica last saw the lease change (its own
 * clock), not by the renewTime another replica wrote, so clock skew between nodes does not matter.
 * Writes use the lease's resourceVersion, so two candidates can never both win one round.
 */
import type { Clock, Scheduler, TimerHandle } from '../clock.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../observe/log.js';

export interface LeaderElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly #o: Required<LeaderElectorOptions>;
  #leader = false;
  #stopped = true;
  #timer: TimerHandle | undefined;
  #lastRenewOk = 0;
  /** The lease as last seen, and when (our clock) its record last changed. */
  #observed: { key: string; at: number } | undefined;
  #leaseTransitions = 0;
  /** The lease as this replica last wrote it while leading: renewals skip the GET. */
  #cached: Lease | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  get identity(): string {
    return this.#o.identity;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#round();
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#cached = undefined;
    if (this.#leader) {
      this.#setLeader(false);
      await this.#release().catch((err: unknown) => this.#o.log.warn('lease release failed', { error: String(err) }));
    }
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.log.warn('lease round failed', { lease: this.#o.name, error: String(err) });
    }
    const now = this.#o.clock.now();
    if (ok) {
      this.#lastRenewOk = now;
      if (!this.#leader) this.#setLeader(true);
    } else if (this.#leader && now - this.#lastRenewOk >= this.#o.renewDeadlineMs) {
      this.#o.log.warn('lease not renewed within the renew deadline; stepping down', { lease: this.#o.name });
      this.#cached = undefined;
      this.#setLeader(false);
    }
    if (!this.#stopped) this.#timer = this.#o.scheduler.after(this.#o.retryPeriodMs, () => void this.#round());
  }

  #setLeader(leader: boolean): void {
    this.#leader = leader;
    this.#o.log.info(leader ? 'became leader' : 'stopped leading', { lease: this.#o.name, identity: this.#o.identity });
    if (leader) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#o.clock.now();
    const { client, identity, name, namespace } = this.#o;
    if (this.#leader && this.#cached) {
      // Renew from what we wrote last; a conflict means someone else wrote: look again next round.
      const renewed: Lease = { ...this.#cached, spec: { ...this.#cached.spec, renewTime: microTime(now) } };
      const res = await client.request('PUT', `${this.#path}/${encodeURIComponent(name)}`, renewed);
      this.#cached = res.status === 200 ? (res.body as Lease) : undefined;
      if (res.status === 200) this.#observed = { key: JSON.stringify(renewed.spec), at: now };
      return res.status === 200;
    }
    const got = await client.request('GET', `${this.#path}/${encodeURIComponent(name)}`);
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (got.status === 404) {
      const created = await client.request('POST', this.#path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec,
      } satisfies Lease);
      this.#cached = created.status === 201 || created.status === 200 ? (created.body as Lease) : undefined;
      return this.#cached !== undefined;
    }
    if (got.status !== 200) throw new Error(`get lease: HTTP ${got.status}`);
    const lease = got.body as Lease;
    const current = lease.spec ?? {};
    const key = JSON.stringify(current);
    if (this.#observed?.key !== key) this.#observed = { key, at: now };
    const holder = current.holderIdentity ?? '';
    const durationMs = (current.leaseDurationSeconds ?? 0) * 1000;
    const expired = this.#observed.at + durationMs <= now;
    if (holder !== '' && holder !== identity && !expired) return false;

    this.#leaseTransitions = current.leaseTransitions ?? 0;
    const next: LeaseSpec =
      holder === identity
        ? { ...current, renewTime: microTime(now), leaseDurationSeconds: spec.leaseDurationSeconds }
        : { ...spec, leaseTransitions: this.#leaseTransitions + 1 };
    const updated = await client.request('PUT', `${this.#path}/${encodeURIComponent(name)}`, { ...lease, spec: next });
    if (updated.status === 409) return false; // someone else wrote first
    if (updated.status !== 200) throw new Error(`update lease: HTTP ${updated.status}`);
    this.#cached = updated.body as Lease;
    this.#observed = { key: JSON.stringify(next), at: now };
    return true;
  }

  async #release(): Promise<void> {
    const got = await this.#o.client.request('GET', `${this.#path}/${encodeURIComponent(this.#o.name)}`);
    if (got.status !== 200) return;
    const lease = got.body as Lease;
    if (lease.spec?.holderIdentity !== this.#o.identity) return;
    await this.#o.client.request('PUT', `${this.#path}/${encodeURIComponent(this.#o.name)}`, {
      ...lease,
      spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.#o.clock.now()) },
    });
  }
}
