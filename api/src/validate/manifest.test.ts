import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { KINDS } from '../schema/kinds.js';
import { isPolicyManifest, validateManifest } from './manifest.js';
import { formatFieldError } from './errors.js';

const examples = join(import.meta.dirname, '../../../examples');
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

describe('validateManifest: parity with the apiserver on examples/', () => {
  const docs = yamlFiles(examples).flatMap((f) =>
    yaml.loadAll(readFileSync(join(examples, f), 'utf8')).map((doc, i) => [`${f}#${i}`, doc] as const),
  );
  const policies = docs.filter(([, doc]) => isPolicyManifest(doc));

  it('finds the policies of every kind', () => {
    expect(new Set(policies.map(([, d]) => (d as { kind: string }).kind)).size).toBe(KINDS.length);
  });

  it.each(policies)('accepts %s', (_name, doc) => {
    const result = validateManifest(doc);
    expect(result.errors.map(formatFieldError)).toEqual([]);
    expect(result.ok).toBe(true);
  });

  const invalid = join(examples, 'invalid');
  it.each(yamlFiles(invalid))('rejects invalid/%s with exactly the errors its header lists', (file) => {
    const text = readFileSync(join(invalid, file), 'utf8');
    const expected = [...text.matchAll(/^# error: (.+)$/gm)].map((m) => m[1]!.trim());
    expect(expected.length).toBeGreaterThan(0);
    const result = validateManifest(yaml.load(text));
    expect(result.ok).toBe(false);
    // The header writes the apiserver's `<nil>` for the error without a field.
    expect(result.errors.map((e) => `${e.path || '<nil>'}: ${e.message}`).sort()).toEqual([...expected].sort());
  });
});
