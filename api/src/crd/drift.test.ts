import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KINDS } from '../schema/kinds.js';
import { findDrift, generatedFiles } from './outputs.js';

const repoRoot = resolve(import.meta.dirname, '../../..');

describe('generated files', () => {
  it('crds/ and docs/crd-reference.md match the schemas (run `npm run generate` after changing api/src/schema/)', () => {
    expect(findDrift(repoRoot)).toEqual({ changed: [], orphaned: [] });
  });

  it('one CRD per kind', () => {
    const crds = [...generatedFiles().keys()].filter((f) => f.startsWith('crds/'));
    expect(crds).toHaveLength(KINDS.length);
  });

  it('detects a schema change that was not regenerated, and a CRD no kind generates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-drift-'));
    try {
      const files = generatedFiles();
      for (const [rel, content] of files) {
        mkdirSync(join(dir, rel, '..'), { recursive: true });
        writeFileSync(join(dir, rel), content);
      }
      expect(findDrift(dir, files)).toEqual({ changed: [], orphaned: [] });

      // A description edited in the source but not regenerated.
      const edited = new Map(files);
      const first = [...edited.keys()][0] ?? '';
      edited.set(first, (edited.get(first) ?? '').replace('description:', 'description: edited'));
      writeFileSync(join(dir, 'crds', 'stability.jarvis.io_removedpolicies.yaml'), 'kind: CustomResourceDefinition\n');
      expect(findDrift(dir, edited)).toEqual({ changed: [first], orphaned: ['crds/stability.jarvis.io_removedpolicies.yaml'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
