/**
 * The user-facing text says what works: for every kind no gateway enforces, README.md,
 * docs/policy-attachment.md, docs/crd-reference.md, the CRD, `jarvis-policy --help` and the
 * example files of that kind carry NOT_ENFORCED (and none of them says it of an enforced kind).
 * When a gateway starts enforcing a kind, its `enforced` flips and these places follow.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../cli/policy.js';
import { KINDS, NOT_ENFORCED } from '../schema/kinds.js';
import { generatedFiles } from './outputs.js';

const root = resolve(import.meta.dirname, '../../..');
const read = (rel: string) => readFileSync(join(root, rel), 'utf8');
const yamlIn = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `${dir}/${f}`);

function help(): string {
  let out = '';
  main(['--help'], { stdout: (t) => (out += t), stderr: () => undefined });
  return out;
}

/** Lines that name `kind` (as a word) and carry the marker. */
const markedLines = (text: string, kind: string) =>
  text.split('\n').filter((line) => new RegExp(`\\b${kind}\\b`).test(line) && line.includes(NOT_ENFORCED));

describe.each(KINDS.map((k) => [k.kind, k] as const))('%s', (kind, def) => {
  const expected = def.enforced ? 0 : 1;

  it.each(['README.md', 'docs/policy-attachment.md'])(`%s marks it ${def.enforced ? 'nowhere' : 'once'}`, (file) => {
    expect(markedLines(read(file), kind)).toHaveLength(expected);
  });

  it(`the help text marks it ${def.enforced ? 'nowhere' : 'once'}, docs/crd-reference.md ${def.enforced ? 'nowhere' : 'in its intro and its section'}`, () => {
    expect(markedLines(help(), kind)).toHaveLength(expected);
    const reference = generatedFiles().get('docs/crd-reference.md')!;
    expect(reference.split('\n').filter((l) => l === `${kind}: ${NOT_ENFORCED}`)).toHaveLength(expected);
    const section = reference.split('\n## ').find((s) => s.startsWith(`${kind}\n`)) ?? '';
    expect(section.includes(NOT_ENFORCED)).toBe(!def.enforced);
  });

  it(`every example file with a ${kind} ${def.enforced ? 'says it is enforced' : 'says at its top that it is not enforced yet'}`, () => {
    const files = yamlIn('examples').filter((f) => yaml.loadAll(read(f)).some((d) => (d as { kind?: unknown } | null)?.kind === kind));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files)
      expect(read(f).split('\n')[0], f).toBe(def.enforced ? `# ${kind}: enforced by the gateway.` : `# ${kind}: ${NOT_ENFORCED}`);
  });
});

describe('user-facing text', () => {
  it('refers to no section of an internal document', () => {
    const files = [
      'README.md',
      ...yamlIn('examples'),
      ...yamlIn('examples/invalid'),
      ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`),
    ];
    const texts = [...files.map((f) => [f, read(f)] as const), ...generatedFiles(), ['jarvis-policy --help', help()] as const];
    for (const [name, text] of texts) expect(text, name).not.toMatch(/\bseed\b|§/i);
  });
});
