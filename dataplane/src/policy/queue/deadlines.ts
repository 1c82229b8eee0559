/**
 * Waiting tickets by deadline: a binary min-heap whose entries know their index, so that a ticket
 * admitted or cancelled before its deadline leaves in O(log n). The gate arms one timer, for the
 * earliest deadline, instead of one per request.
 */
import type { Ticket } from './ticket.js';

export class DeadlineHeap {
  readonly #items: Ticket[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** The earliest deadline, or undefined when empty. */
  peek(): Ticket | undefined {
    return this.#items[0];
  }

  push(t: Ticket): void {
    t.heapIndex = this.#items.length;
    this.#items.push(t);
    this.#up(t.heapIndex);
  }

  /** Removes `t` if it is in the heap. */
  remove(t: Ticket): void {
    const i = t.heapIndex;
    if (i < 0 || this.#items[i] !== t) return;
    const last = this.#items.pop() as Ticket;
    t.heapIndex = -1;
    if (last === t) return;
    this.#items[i] = last;
    last.heapIndex = i;
    this.#down(i);
    this.#up(last.heapIndex);
  }

  /** Removes and returns the earliest ticket. */
  pop(): Ticket | undefined {
    const top = this.#items[0];
    if (top) this.remove(top);
    return top;
  }

  #less(a: number, b: number): boolean {
    return (this.#items[a] as Ticket).deadline < (this.#items[b] as Ticket).deadline;
  }

  #swap(a: number, b: number): void {
    const x = this.#items[a] as Ticket;
    const y = this.#items[b] as Ticket;
    this.#items[a] = y;
    this.#items[b] = x;
    y.heapIndex = a;
    x.heapIndex = b;
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
