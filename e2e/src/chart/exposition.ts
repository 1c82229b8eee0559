/** What a Prometheus /metrics page declares and holds, by the names a query can select. */

export interface Exposition {
  /** Sample names a query may select, from the `# TYPE` lines (a histogram gives _bucket, _sum and _count). */
  readonly declared: ReadonlySet<string>;
  /** Sample names with at least one sample on the page. */
  readonly sampled: ReadonlySet<string>;
}

const SUFFIXES: Record<string, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parseExposition(text: string): Exposition {
  const declared = new Set<string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type?.[1] && type[2]) {
      const suffixes = SUFFIXES[type[2]];
      if (!suffixes) throw new Error(`unknown metric type in: ${line}`);
      for (const s of suffixes) declared.add(`${type[1]}${s}`);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name) sampled.add(name);
  }
  return { declared, sampled };
}

/** The union of several pages (the gateway's and the operator's). */
export function mergeExpositions(pages: readonly Exposition[]): Exposition {
  return {
    declared: new Set(pages.flatMap((p) => [...p.declared])),
    sampled: new Set(pages.flatMap((p) => [...p.sampled])),
  };
}
