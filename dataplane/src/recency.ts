/**
 * Recency order for least-recently-used structures: a doubly linked list through the entries
 * themselves, beside the Map that finds them. (A Map's insertion order is no substitute: deleting
 * from its front and reading its first entry through an iterator makes V8 step over every deleted
 * entry still in its table — microseconds per insert once keys churn.)
 */
export interface Linked<N> {
  /** Toward the least recently used end. */
  older: N | undefined;
  /** Toward the most recently used end. */
  newer: N | undefined;
}

export class RecencyList<N extends Linked<N>> {
  #oldest: N | undefined = undefined;
  #newest: N | undefined = undefined;

  /** The least recently used entry. */
  get oldest(): N | undefined {
    return this.#oldest;
  }

  /** Adds `node` (not in the list) as the most recently used. */
  append(node: N): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest) this.#newest.newer = node;
    else this.#oldest = node;
    this.#newest = node;
  }

  /** Takes `node` (in the list) out. */
  unlink(node: N): void {
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    node.older = undefined;
    node.newer = undefined;
  }

  /** Makes `node` (in the list) the most recently used. */
  touch(node: N): void {
    if (this.#newest === node) return;
    this.unlink(node);
    this.append(node);
  }

  clear(): void {
    this.#oldest = undefined;
    this.#newest = undefined;
  }
}
