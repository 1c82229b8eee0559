/**
 * A bounded least-recently-used map. Recency is a doubly linked list beside the Map, not the
 * Map's insertion order: evicting from a Map's front through its iterator makes V8 step over every
 * deleted entry still in its table (see policy/cache/lru.ts), which costs microseconds per insert
 * once keys churn.
 */
class Node<K, V> {
  older: Node<K, V> | undefined = undefined;
  newer: Node<K, V> | undefined = undefined;
  constructor(
    readonly key: K,
    public value: V,
  ) {}
}

export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, Node<K, V>>();
  #oldest: Node<K, V> | undefined = undefined;
  #newest: Node<K, V> | undefined = undefined;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`LRU size must be a non-negative integer, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    this.#touch(node);
    return node.value;
  }

  set(key: K, value: V): void {
    if (this.#max === 0) return;
    const node = this.#map.get(key);
    if (node !== undefined) {
      node.value = value;
      this.#touch(node);
      return;
    }
    const added = new Node(key, value);
    this.#map.set(key, added);
    this.#append(added);
    if (this.#map.size > this.#max && this.#oldest) this.#remove(this.#oldest);
  }

  delete(key: K): void {
    const node = this.#map.get(key);
    if (node !== undefined) this.#remove(node);
  }

  clear(): void {
    this.#map.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  #remove(node: Node<K, V>): void {
    this.#map.delete(node.key);
    this.#unlink(node);
  }

  #append(node: Node<K, V>): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest) this.#newest.newer = node;
    else this.#oldest = node;
    this.#newest = node;
  }

  #unlink(node: Node<K, V>): void {
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    node.older = undefined;
    node.newer = undefined;
  }

  #touch(node: Node<K, V>): void {
    if (this.#newest === node) return;
    this.#unlink(node);
    this.#append(node);
  }
}
