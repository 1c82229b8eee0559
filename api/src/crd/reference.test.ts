/**
 * docs/crd-reference.md shows every pattern verbatim: read back the way a GFM renderer reads a
 * table (cells split at unescaped `|`, `\|` is a `|`, code spans per CommonMark), each pattern is
 * the schema's.
 */
import { describe, expect, it } from 'vitest';
import { plainSchema, type Json } from './render.js';
import { code, renderReference } from './reference.js';
import { DURATION_PATTERN } from '../schema/builders.js';
import { KINDS } from '../schema/kinds.js';

/** The cells of a GFM table row. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i]!;
    if (c === '\\' && row[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (c === '|') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.slice(1, -1).map((c) => c.trim());
}

/** The contents of the code spans of inline Markdown (CommonMark: a run of n backticks ends at the next run of exactly n). */
function codeSpans(text: string): string[] {
  const spans: string[] = [];
  let i = 0;
  while (i < text.length) {
    const open = /`+/.exec(text.slice(i));
    if (!open) break;
    const start = i + open.index + open[0].length;
    const close = new RegExp(`(?<!\`)${'`'.repeat(open[0].length)}(?!\`)`).exec(text.slice(start));
    if (!close) break;
    let content = text.slice(start, start + close.index);
    if (content.length > 1 && content.startsWith(' ') && content.endsWith(' ') && content.trim() !== '') content = content.slice(1, -1);
    spans.push(content);
    i = start + close.index + open[0].length;
  }
  return spans;
}

type Node = { [key: string]: Json };
const isNode = (v: Json | undefined): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every pattern of a spec schema but the durations' (the reference names their bounds), by field path. */
function patterns(node: Node, path: string, out: Map<string, string>): Map<string, string> {
  if (typeof node.pattern === 'string' && node.pattern !== DURATION_PATTERN) out.set(path, node.pattern);
  if (isNode(node.properties))
    for (const [name, child] of Object.entries(node.properties)) if (isNode(child)) patterns(child, `${path}.${name}`, out);
  if (isNode(node.items)) patterns(node.items, `${path}[]`, out);
  return out;
}

describe('code', () => {
  it('fences text with one backtick more than it holds, padding it only when needed', () => {
    expect(code('a|b')).toBe('`a|b`');
    expect(code('^[A-Za-z_`|~]+$')).toBe('``^[A-Za-z_`|~]+$``');
    expect(code('`x`')).toBe('`` `x` ``');
    for (const text of ['plain', 'a`b', 'a``b`c', '`lead', 'trail`', ' `x` ']) expect(codeSpans(code(text))).toEqual([text]);
  });
});

describe('docs/crd-reference.md', () => {
  /** The table rows of each kind's section, by field path. */
  const sections = new Map(
    renderReference()
      .split('\n## ')
      .slice(1)
      .map((section) => {
        const kind = section.split('\n')[0]!.trim();
        const rows = section
          .split('\n')
          .filter((l) => l.startsWith('| `spec'))
          .map(cells);
        return [kind, new Map(rows.map((r) => [codeSpans(r[0]!)[0]!, r]))] as const;
      }),
  );

  it('has a section per kind, and six cells in every row', () => {
    expect([...sections.keys()]).toEqual(KINDS.map((k) => k.kind));
    for (const rows of sections.values()) for (const row of rows.values()) expect(row, row.join(' | ')).toHaveLength(6);
  });

  it.each(KINDS.map((k) => [k.kind, k] as const))('renders every pattern of %s verbatim', (kind, def) => {
    const spec = plainSchema(def.spec);
    const rows = sections.get(kind)!;
    let checked = 0;
    for (const [path, pattern] of isNode(spec) ? patterns(spec, 'spec', new Map()) : []) {
      // defaults and overrides repeat spec's settings: the reference shows them once, under spec.
      if (/^spec\.(defaults|overrides)\./.test(path)) {
        expect(
          spec.properties && isNode(spec.properties)
            ? patterns(spec, 'spec', new Map()).get(path.replace(/^spec\.\w+\./, 'spec.'))
            : undefined,
        ).toBe(pattern);
        continue;
      }
      // The items of a list of scalars are described in the list's row.
      const constraints = rows.get(path.endsWith('[]') ? path.slice(0, -2) : path)?.[4] ?? '';
      const at = constraints.indexOf('pattern `');
      expect(at, `${path}: ${constraints}`).toBeGreaterThanOrEqual(0);
      expect(codeSpans(constraints.slice(at + 'pattern '.length))[0], path).toBe(pattern);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('shows the settings of defaults and overrides once: their strategy, and a row pointing at spec', () => {
    const rows = sections.get('RateLimitPolicy')!;
    expect(rows.get('spec.overrides.strategy')?.[3]).toBe('`"Merge"`');
    expect(rows.get('spec.overrides.*')?.[5]).toMatch(/^Every setting of spec above but targetRefs/);
    expect([...rows.keys()].filter((k) => k.startsWith('spec.overrides.'))).toEqual(['spec.overrides.strategy', 'spec.overrides.*']);
    expect(sections.get('CachePolicy')!.get('spec.defaults.strategy')?.[3]).toBe('`"Atomic"`');
  });

  it('names the bounds of every duration instead of its pattern', () => {
    const rows = sections.get('RateLimitPolicy')!;
    expect(rows.get('spec.limits[].rate.per')?.[4]).toBe('duration 1ms to 744h');
    expect(rows.get('spec.hotspot.cooldown')?.[4]).toBe('duration 0s to 1h');
  });
});
