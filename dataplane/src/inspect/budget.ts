/**
 * The bytes of request bodies the gateway holds in memory at once, across all requests: a body is
 * read into memory only while it fits, so slow clients cannot grow the gateway without bound.
 * Reservations are released when their exchange ends.
 */
export class BodyBudget {
  #used = 0;
  constructor(readonly capacity: number) {}

  /** Takes `n` bytes if they fit; false leaves nothing reserved. */
  tryReserve(n: number): boolean {
    if (this.#used + n > this.capacity) return false;
    this.#used += n;
    return true;
  }

  release(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }

  get used(): number {
    return this.#used;
  }
}
