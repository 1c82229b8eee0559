/**
 * Counters and histograms for the request path. prom-client hashes and validates the labels on
 * every `inc` and `observe` (about 0.3–1.2 µs each, measured); here a request adds to plain numbers
 * in a cell looked up once per label set, and prom-client reads the cells when it is scraped.
 * Label values must come from config (routes, policies, levels): the cells are bounded anyway.
 * Past the bound a counter's increments go straight to prom-client, and a histogram's new label
 * sets share one cell whose every label is `_other` (a config value of `_other` would share it
 * too). Cells live as long as the process: a registry reset zeroes them, and a series once seen
 * stays exposed (at 0 after a reset).
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface Cell {
  inc(by?: number): void;
}

export interface HistogramCell {
  observe(value: number): void;
}

const MAX_CELLS = 10_000;

/**
 * Cells by label values, one Map level per label: the values are config strings whose hashes V8
 * has cached, so a lookup joins nothing and allocates nothing.
 */
class CellTable<C> {
  readonly #root = new Map<string, unknown>();
  readonly #all: C[] = [];

  constructor(readonly depth: number) {}

  get size(): number {
    return this.#all.length;
  }

  /** A metric without labels has one cell, kept under '' at the root. */
  get(values: readonly string[]): C | undefined {
    let node: unknown = this.#root;
    const levels = Math.max(1, this.depth);
    for (let i = 0; i < levels && node !== undefined; i++) node = (node as Map<string, unknown>).get(values[i] ?? '');
    return node as C | undefined;
  }

  add(values: readonly string[], cell: C): void {
    let node = this.#root;
    for (let i = 0; i < this.depth - 1; i++) {
      const key = values[i] ?? '';
      let next = node.get(key) as Map<string, unknown> | undefined;
      if (!next) node.set(key, (next = new Map()));
      node = next;
    }
    node.set(values[this.depth - 1] ?? '', cell);
    this.#all.push(cell);
  }

  /** Every cell, in the order added. */
  cells(): readonly C[] {
    return this.#all;
  }
}

function labelsOf<L extends string>(names: readonly L[], values: readonly string[]): Partial<Record<L, string>> {
  const labels: Partial<Record<L, string>> = {};
  names.forEach((name, i) => (labels[name] = values[i] ?? ''));
  return labels;
}

// ---- counters -----------------------------------------------------------------------------------

export interface CellCounter<L extends string> {
  /** The cell for these label values (in `labelNames` order). */
  cell(...values: string[]): Cell;
  /** The underlying counter (tests read it through the registry). */
  readonly counter: Counter<L>;
}

class PendingCell implements Cell {
  pending = 0;
  constructor(readonly labels: Partial<Record<string, string>>) {}
  inc(by = 1): void {
    this.pending += by;
  }
}

export function cellCounter<L extends string>(opts: {
  name: string;
  help: string;
  labelNames: readonly L[];
  registry: Registry;
}): CellCounter<L> {
  const cells = new CellTable<PendingCell>(opts.labelNames.length);
  const counter: Counter<L> = new Counter<L>({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames,
    registers: [opts.registry],
    collect() {
      for (const cell of cells.cells()) {
        if (cell.pending === 0) continue;
        counter.inc(cell.labels, cell.pending);
        cell.pending = 0;
      }
    },
  });
  return {
    counter,
    cell(...values) {
      let c = cells.get(values);
      if (!c) {
        const labels = labelsOf(opts.labelNames, values);
        if (cells.size >= MAX_CELLS) return { inc: (by = 1) => counter.inc(labels, by) };
        c = new PendingCell(labels);
        cells.add(values, c);
      }
      return c;
    },
  };
}

// ---- histograms ---------------------------------------------------------------------------------

class BucketCell implements HistogramCell {
  /** Observations per bucket (not cumulative); the last one is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly bounds: readonly number[],
    readonly labels: Partial<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) return; // a broken clock must not poison the sum
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/** One exported sample, in the shape prom-client's registry formats. */
interface Sample {
  value: number;
  labels: Partial<Record<string, string | number>>;
  sharedLabels?: Partial<Record<string, string>>;
  metricName: string;
}

interface Exposition {
  name: string;
  help: string;
  type: string;
  values: Sample[];
  aggregator: string;
}

/** Label value of the one cell that takes every label set past the bound. */
export const OVERFLOW_LABEL = '_other';

/**
 * A prom-client Histogram whose exposition is its cells': the registry formats it like any
 * histogram (`_bucket` with `le`, `_sum`, `_count`). Observations reach it only through cells
 * (`cellHistogram`), never through prom-client's own `observe`.
 */
class CellBackedHistogram<L extends string> extends Histogram<L> {
  readonly cells: CellTable<BucketCell>;
  readonly bounds: readonly number[];
  readonly #name: string;
  readonly #help: string;

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registry: Registry }) {
    super({ name: opts.name, help: opts.help, labelNames: opts.labelNames, buckets: [...opts.buckets], registers: [opts.registry] });
    this.#name = opts.name;
    this.#help = opts.help;
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    this.cells = new CellTable<BucketCell>(opts.labelNames.length);
  }

  #samples(): Sample[] {
    const out: Sample[] = [];
    const bucket = `${this.#name}_bucket`;
    for (const cell of this.cells.cells()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += cell.counts[i] ?? 0;
        out.push({ value: acc, labels: { le }, sharedLabels: cell.labels, metricName: bucket });
      });
      out.push({ value: cell.count, labels: { le: '+Inf' }, sharedLabels: cell.labels, metricName: bucket });
      out.push({ value: cell.sum, labels: {}, sharedLabels: cell.labels, metricName: `${this.#name}_sum` });
      out.push({ value: cell.count, labels: {}, sharedLabels: cell.labels, metricName: `${this.#name}_count` });
    }
    return out;
  }

  #exposition(values: Sample[]): Exposition {
    return { name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** What the registry formats for /metrics (prom-client's registry prefers it to `get`). */
  getForPromString(): Promise<Exposition> {
    return Promise.resolve(this.#exposition(this.#samples()));
  }

  override get(): ReturnType<Histogram<L>['get']> {
    const values = this.#samples().map((s) => ({ value: s.value, labels: { ...s.sharedLabels, ...s.labels }, metricName: s.metricName }));
    // prom-client's typings give `type` as a numeric enum its JavaScript does not export; at run
    // time every metric's type is the string, as here.
    return Promise.resolve(this.#exposition(values) as unknown as Awaited<ReturnType<Histogram<L>['get']>>);
  }

  override reset(): void {
    // prom-client's constructor calls reset() before this class's fields exist.
    const cells = this.cells as CellTable<BucketCell> | undefined;
    for (const cell of cells?.cells() ?? []) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }
}

export interface CellHistogram<L extends string> {
  /** The cell for these label values (in `labelNames` order). */
  cell(...values: string[]): HistogramCell;
  /** What the registry reads (observe only through `cell`: the histogram exposes its cells alone). */
  readonly histogram: Pick<Histogram<L>, 'get'>;
}

export function cellHistogram<L extends string>(opts: {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
  registry: Registry;
}): CellHistogram<L> {
  const histogram = new CellBackedHistogram<L>(opts);
  return {
    histogram,
    cell(...values) {
      let c = histogram.cells.get(values);
      if (!c) {
        // Past the bound, every new label set shares one cell labelled _other.
        const key = histogram.cells.size >= MAX_CELLS ? opts.labelNames.map(() => OVERFLOW_LABEL) : values;
        c = histogram.cells.get(key);
        if (!c) {
          c = new BucketCell(histogram.bounds, labelsOf(opts.labelNames, key));
          histogram.cells.add(key, c);
        }
      }
      return c;
    },
  };
}
