/** Reading a Prometheus text exposition (the gateway's and the operator's /metrics). */

const SAMPLE = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([\d.eE+-]+|NaN|[+-]Inf)(?: \d+)?$/;

/**
 * The sum of a metric over its label sets that carry every given label, or undefined when no
 * sample matches.
 */
export function metricSum(exposition: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum: number | undefined;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== name) continue;
    const set = m[2] ?? '';
    if (!wanted.every((w) => set.includes(w))) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** `metricSum` of `url`'s exposition; undefined when it cannot be fetched. */
export async function scrapeMetric(url: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number | undefined> {
  const text = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => (r.status === 200 ? r.text() : ''),
    () => '',
  );
  return metricSum(text, name, labels);
}
