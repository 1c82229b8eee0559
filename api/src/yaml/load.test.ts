import { describe, expect, it } from 'vitest';
import { DEFAULT_YAML_LIMITS, YamlError, loadYamlDocuments } from './load.js';

/** A "billion laughs": `levels` anchors, each a list of nine aliases of the one before (9^levels strings). */
function aliasBomb(levels: number, at = 'x'): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
  lines.push(`${at}: *a${levels - 1}`);
  return `${lines.join('\n')}\n`;
}

describe('bounded YAML documents', () => {
  it('reads several documents and leaves out empty ones', () => {
    expect(loadYamlDocuments('a: 1\n---\n---\nb: [x, y]\n')).toEqual([{ a: 1 }, { b: ['x', 'y'] }]);
  });

  it('expands ordinary anchors into copies, not shared objects', () => {
    const [doc] = loadYamlDocuments('base: &b { x: 1 }\none: *b\ntwo: { <<: *b, y: 2 }\n') as [Record<string, Record<string, number>>];
    expect(doc).toEqual({ base: { x: 1 }, one: { x: 1 }, two: { x: 1, y: 2 } });
    expect(doc.one).not.toBe(doc.base);
    doc.one!.x = 5;
    expect(doc.base!.x).toBe(1);
  });

  it('refuses an alias bomb before anything walks it as a tree', () => {
    const text = aliasBomb(9);
    expect(text.length).toBeLessThan(1024);
    expect(() => loadYamlDocuments(text)).toThrow(YamlError);
    expect(() => loadYamlDocuments(text)).toThrow(/alias bomb/);
  });

  it('refuses a bomb in mapping keys and in long strings as well', () => {
    const long = `s: &s "${'x'.repeat(10_000)}"\nl: [${Array.from({ length: 200 }, () => '*s').join(',')}]\n`;
    expect(() => loadYamlDocuments(long)).toThrow(/alias bomb/);
    // The same expansion allowed by a larger budget: the bound is what refuses it.
    expect(loadYamlDocuments(long, { ...DEFAULT_YAML_LIMITS, maxAliasExpansion: 3_000_000 })).toHaveLength(1);
  });

  it('accepts what aliases add within the budget', () => {
    const text = aliasBomb(4); // 9^4 = 6,561 strings
    const [doc] = loadYamlDocuments(text) as [{ x: unknown[] }];
    expect(JSON.stringify(doc.x).match(/lol/g)).toHaveLength(6561);
  });

  it('refuses an alias to a node that contains it', () => {
    expect(() => loadYamlDocuments('a: &a [1, *a]\n')).toThrow(/cycle/);
    expect(() => loadYamlDocuments('a: &a { k: { j: *a } }\n')).toThrow(/cycle/);
  });

  it('refuses 10^5 levels of nesting, flow and JSON alike', () => {
    const n = 100_000;
    expect(() => loadYamlDocuments('['.repeat(n) + ']'.repeat(n))).toThrow(/maxDepth/);
    expect(() => loadYamlDocuments('{"a":'.repeat(n) + '1' + '}'.repeat(n))).toThrow(/maxDepth/);
  });

  it('refuses nesting that only aliases make deep', () => {
    const deep = '['.repeat(60) + ']'.repeat(60);
    const text = `a: &a ${deep}\nb: &b [${'['.repeat(50)}*a${']'.repeat(50)}]\n`;
    expect(() => loadYamlDocuments(text)).toThrow(/nesting exceeds 100 levels once aliases are expanded/);
  });

  it('refuses a text over the size bound', () => {
    expect(() => loadYamlDocuments('a: 1\n'.repeat(10), { ...DEFAULT_YAML_LIMITS, maxBytes: 20 })).toThrow(/larger than 20 bytes/);
  });

  it('keeps a __proto__ key as a key', () => {
    const [doc] = loadYamlDocuments('x: &x { __proto__: { polluted: true } }\ny: *x\n') as [Record<string, object>];
    expect(Object.getPrototypeOf(doc.y)).toBe(Object.prototype);
    expect(Object.keys(doc.y!)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports a syntax error as YamlError', () => {
    expect(() => loadYamlDocuments('a: [1, 2\n')).toThrow(/not valid YAML/);
  });
});
