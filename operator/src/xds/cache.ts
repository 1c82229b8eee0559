/**
 * The snapshot cache: the current snapshot per gateway group. Setting a snapshot wakes the
 * streams of that group; each stream works out what changed for its own subscriptions.
 */
import type { Snapshot, TypeSnapshot } from './snapshot.js';

export type GroupListener = (group: string) => void;

/** Recent versions remembered per group and type, for gateways that resume with one of them. */
const HISTORY = 4;

export class SnapshotCache {
  readonly #snapshots = new Map<string, Snapshot>();
  /** group → type URL → the last HISTORY type snapshots, oldest first. */
  readonly #history = new Map<string, Map<string, TypeSnapshot[]>>();
  readonly #listeners = new Set<GroupListener>();

  /** Replaces the group's snapshot (atomically: a stream never sees half of one). */
  setSnapshot(group: string, snapshot: Snapshot): void {
    this.#snapshots.set(group, snapshot);
    let byType = this.#history.get(group);
    if (byType === undefined) this.#history.set(group, (byType = new Map()));
    for (const [typeUrl, ts] of snapshot.types) {
      const list = (byType.get(typeUrl) ?? []).filter((t) => t.version !== ts.version);
      list.push(ts);
      byType.set(typeUrl, list.slice(-HISTORY));
    }
    this.#notify(group);
  }

  /**
   * A recent version of a type (the current one included). A gateway resuming a stream with a
   * recent version tells the server what it holds, so make-before-break also holds across the
   * reconnect (backends it holds are kept until its gateway resources move on).
   */
  recent(group: string, typeUrl: string, version: string): TypeSnapshot | undefined {
    return this.#history
      .get(group)
      ?.get(typeUrl)
      ?.find((t) => t.version === version);
  }

  getSnapshot(group: string): Snapshot | undefined {
    return this.#snapshots.get(group);
  }

  /**
   * Forgets a group (its Gateway is gone). Connected streams of the group keep what they have
   * and get nothing new; set an empty snapshot instead to make them drop their resources.
   */
  deleteSnapshot(group: string): boolean {
    const had = this.#snapshots.delete(group);
    this.#history.delete(group);
    if (had) this.#notify(group);
    return had;
  }

  groups(): string[] {
    return [...this.#snapshots.keys()].sort();
  }

  /** Called after every change of a group's snapshot; returns the unsubscribe function. */
  watch(listener: GroupListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(group: string): void {
    for (const l of this.#listeners) l(group);
  }
}
