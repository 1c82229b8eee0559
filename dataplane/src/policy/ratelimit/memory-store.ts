/**
 * In-process counter store: O(1) per counter (sliding logs: amortized O(1) plus the entries that
 * expire), at most `maxKeys` counters, least recently used evicted first.
 *
 * Counters live in one slab of typed arrays (three state numbers and the LRU links per slot), the
 * key strings in one array, and an open-addressing index from key to slot (slot-index.ts): about
 * 50 bytes per counter plus its key string, and no object per counter. Evicting a counter forgets its state (it starts fresh), so `maxKeys` should exceed the
 * counters active within one period; a scan of distinct values cannot grow memory past it.
 */
import type { Clock } from '../../clock.js';
import {
  adjust,
  adjustLog,
  evaluate,
  evaluateLog,
  newAdjusted,
  newEvaluation,
  pruneLog,
  type Evaluation,
  type SlidingLogState,
} from './algorithms.js';
import { SlotIndex } from './slot-index.js';
import { ALG, toMicros, type LimitAdjust, type LimitOp, type LocalLimitStore, type OpOutcome, type StoreResult } from './types.js';

/** Fewer would let one request's counters evict each other. */
const MIN_KEYS = 64;
const NONE = -1;

export interface MemoryLimitStore extends LocalLimitStore {
  readonly kind: 'memory';
  /** Counters held now. */
  size(): number;
}

/**
 * A key as one flat string. Keys are built by concatenation (head + value), which V8 keeps as a
 * cons string: a 32-byte node pointing at both parts, flattened into a third string when hashed.
 * The store keeps a million of them, so it copies each new key once into a plain sequential
 * string (keys are ASCII: keys.ts hashes anything else), about 40 bytes less per counter.
 */
function flat(key: string): string {
  const copy = Buffer.from(key, 'latin1').toString('latin1');
  return copy === key ? copy : key;
}

export function createMemoryStore(opts: { clock: Clock; maxKeys: number }): MemoryLimitStore {
  return new MemoryStore(opts.clock, opts.maxKeys);
}

class MemoryStore implements MemoryLimitStore {
  readonly kind = 'memory' as const;
  readonly #clock: Clock;
  readonly #max: number;
  #keys: (string | undefined)[] = [];
  readonly #index = new SlotIndex((slot) => this.#keys[slot], 1024);
  #a = new Float64Array(0);
  #b = new Float64Array(0);
  #c = new Float64Array(0);
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
  /** Least recently used slot (evicted first) and most recently used slot. */
  #lru = NONE;
  #mru = NONE;
  #used = 0;
  readonly #logs = new Map<number, SlidingLogState>();
  /** Per-op scratch, reused across checks (checks run synchronously, one at a time). */
  readonly #evals: Evaluation[] = [];
  readonly #slots: number[] = [];
  readonly #adjusted = newAdjusted();

  constructor(clock: Clock, maxKeys: number) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error(`maxKeys must be a positive integer, got ${maxKeys}`);
    this.#clock = clock;
    this.#max = Math.max(MIN_KEYS, maxKeys);
    this.#grow(Math.min(this.#max, 1024));
  }

  ready(): boolean {
    return true;
  }

  size(): number {
    return this.#index.size;
  }

  check(ops: readonly LimitOp[]): Promise<StoreResult> {
    try {
      return Promise.resolve(this.checkSync(ops));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  checkSync(ops: readonly LimitOp[]): StoreResult {
    const now = this.#clock.now();
    const n = ops.length;
    while (this.#evals.length < n) this.#evals.push(newEvaluation());
    let allowed = true;
    let waitMs = 0;
    for (let i = 0; i < n; i++) {
      const op = ops[i] as LimitOp;
      const ev = this.#evals[i] as Evaluation;
      const slot = this.#index.get(op.key);
      this.#slots[i] = slot ?? NONE;
      if (slot !== undefined) this.#touch(slot);
      if (op.alg === ALG.SlidingLog) {
        const log = slot === undefined ? undefined : this.#logs.get(slot);
        if (log) pruneLog(log, now, op.periodMs);
        evaluateLog(op, now, log, ev);
      } else if (slot === undefined) evaluate(op, now, false, 0, 0, 0, ev);
      else evaluate(op, now, true, this.#a[slot] ?? 0, this.#b[slot] ?? 0, this.#c[slot] ?? 0, ev);
      if (!op.shadow) {
        if (!ev.allowed) allowed = false;
        else if (ev.waitMs > waitMs) waitMs = ev.waitMs;
      }
    }
    const outcomes: OpOutcome[] = new Array<OpOutcome>(n);
    for (let i = 0; i < n; i++) {
      const op = ops[i] as LimitOp;
      const ev = this.#evals[i] as Evaluation;
      const charged = allowed && ev.allowed;
      if (charged) this.#write(op, i, now, ev);
      outcomes[i] = {
        allowed: ev.allowed,
        remaining: charged ? ev.remaining1 : ev.remaining0,
        resetMs: toMicros(charged ? ev.reset1 : ev.reset0),
        retryMs: toMicros(ev.retryMs),
      };
    }
    return { allowed, waitMs: allowed ? toMicros(waitMs) : 0, outcomes };
  }

  adjust(adjusts: readonly LimitAdjust[]): Promise<void> {
    try {
      this.adjustSync(adjusts);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  adjustSync(adjusts: readonly LimitAdjust[]): void {
    const now = this.#clock.now();
    const out = this.#adjusted;
    for (const { op, delta, sinceMs } of adjusts) {
      const found = this.#index.get(op.key);
      if (op.alg === ALG.SlidingLog) {
        const units = adjustLog(delta);
        if (units === 0) continue;
        const slot = found ?? this.#allocate(op.key);
        if (found !== undefined) this.#touch(slot);
        let log = this.#logs.get(slot);
        if (!log) this.#logs.set(slot, (log = { times: [], costs: [], head: 0, sum: 0 }));
        pruneLog(log, now, op.periodMs);
        log.times.push(now);
        log.costs.push(units);
        log.sum += units;
        continue;
      }
      if (found === undefined) adjust(op, now, false, 0, 0, 0, delta, sinceMs, out);
      else adjust(op, now, true, this.#a[found] ?? 0, this.#b[found] ?? 0, this.#c[found] ?? 0, delta, sinceMs, out);
      if (!out.write) continue;
      const slot = found ?? this.#allocate(op.key);
      if (found !== undefined) this.#touch(slot);
      this.#a[slot] = out.a;
      this.#b[slot] = out.b;
      this.#c[slot] = out.c;
    }
  }

  #write(op: LimitOp, i: number, now: number, ev: Evaluation): void {
    let slot = this.#slots[i] ?? NONE;
    if (slot === NONE || this.#keys[slot] !== op.key) {
      // Absent, or (with tiny maxKeys) evicted by an earlier op of this request.
      slot = this.#index.get(op.key) ?? this.#allocate(op.key);
      this.#slots[i] = slot;
    }
    if (op.alg === ALG.SlidingLog) {
      let log = this.#logs.get(slot);
      if (!log) this.#logs.set(slot, (log = { times: [], costs: [], head: 0, sum: 0 }));
      log.times.push(now);
      log.costs.push(op.cost);
      log.sum += op.cost;
      return;
    }
    this.#a[slot] = ev.a;
    this.#b[slot] = ev.b;
    this.#c[slot] = ev.c;
  }

  #allocate(key: string): number {
    let slot: number;
    if (this.#used < this.#max) {
      if (this.#used === this.#keys.length) this.#grow(Math.min(this.#max, this.#keys.length * 2));
      slot = this.#used++;
    } else {
      slot = this.#lru;
      this.#unlink(slot);
      const old = this.#keys[slot];
      if (old !== undefined) this.#index.delete(old);
      this.#logs.delete(slot);
    }
    const kept = flat(key);
    this.#keys[slot] = kept;
    this.#index.add(kept, slot);
    this.#linkMru(slot);
    return slot;
  }

  #touch(slot: number): void {
    if (slot === this.#mru) return;
    this.#unlink(slot);
    this.#linkMru(slot);
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot] ?? NONE;
    const n = this.#next[slot] ?? NONE;
    if (p === NONE) this.#lru = n;
    else this.#next[p] = n;
    if (n === NONE) this.#mru = p;
    else this.#prev[n] = p;
  }

  #linkMru(slot: number): void {
    this.#prev[slot] = this.#mru;
    this.#next[slot] = NONE;
    if (this.#mru === NONE) this.#lru = slot;
    else this.#next[this.#mru] = slot;
    this.#mru = slot;
  }

  #grow(capacity: number): void {
    const copy = <T extends Float64Array | Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.#a = copy(this.#a, new Float64Array(capacity));
    this.#b = copy(this.#b, new Float64Array(capacity));
    this.#c = copy(this.#c, new Float64Array(capacity));
    this.#prev = copy(this.#prev, new Int32Array(capacity));
    this.#next = copy(this.#next, new Int32Array(capacity));
    this.#keys.length = capacity;
  }
}
