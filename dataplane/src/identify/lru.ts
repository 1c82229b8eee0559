/** A bounded least-recently-used map (recency in a linked list: recency.ts). */
import { RecencyList, type Linked } from '../recency.js';

class Node<K, V> implements Linked<Node<K, V>> {
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
  readonly #order = new RecencyList<Node<K, V>>();

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
    this.#order.touch(node);
    return node.value;
  }

  set(key: K, value: V): void {
    if (this.#max === 0) return;
    const node = this.#map.get(key);
    if (node !== undefined) {
      node.value = value;
      this.#order.touch(node);
      return;
    }
    const added = new Node(key, value);
    this.#map.set(key, added);
    this.#order.append(added);
    const oldest = this.#order.oldest;
    if (this.#map.size > this.#max && oldest) this.#remove(oldest);
  }

  delete(key: K): void {
    const node = this.#map.get(key);
    if (node !== undefined) this.#remove(node);
  }

  clear(): void {
    this.#map.clear();
    this.#order.clear();
  }

  #remove(node: Node<K, V>): void {
    this.#map.delete(node.key);
    this.#order.unlink(node);
  }
}
