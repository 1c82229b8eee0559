import { basename } from 'node:path';
import { KINDS, API_VERSION } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { invalidExamples, loadManifests, validExampleFiles } from './examples.js';

describe('examples/', () => {
  const manifests = validExampleFiles().flatMap(loadManifests);

  it('sets up the Jarvis platform: our GatewayClass and Gateway, the three routes, and the backends', () => {
    const names = (kind: string) => manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name);
    expect(names('GatewayClass')).toEqual(['jarvis']);
    expect(names('Gateway')).toEqual(['jarvis-gateway']);
    expect(names('HTTPRoute').sort()).toEqual(['chat', 'completions', 'retrieve']);
    expect(names('Service')).toEqual(
      expect.arrayContaining(['llm-gpt-4', 'llm-gpt-35-turbo', 'llm-claude-haiku', 'llm-local-model', 'vector-search', 'keyword-search']),
    );
  });

  it('has policies of all five kinds', () => {
    const kinds = new Set(manifests.filter((m) => m.apiVersion === API_VERSION).map((m) => m.kind));
    expect([...kinds].sort()).toEqual(KINDS.map((k) => k.kind).sort());
  });
});

describe('examples/invalid/', () => {
  const invalid = invalidExamples();

  it('holds at least eight manifests covering every kind', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(8);
    expect(new Set(invalid.map((e) => e.manifest.kind))).toEqual(new Set(KINDS.map((k) => k.kind)));
  });

  it('names each file after its kind and its mistake, and each object after the file', () => {
    for (const { file, manifest } of invalid) {
      const name = basename(file, '.yaml');
      expect(name.startsWith(`${manifest.kind.toLowerCase()}-`), file).toBe(true);
      expect(name.slice(manifest.kind.length + 1), file).toBe(manifest.metadata.name);
    }
  });

  it('blames a field under spec in every file', () => {
    for (const { file, expectField } of invalid) expect(expectField, file).toMatch(/^spec\./);
  });
});
