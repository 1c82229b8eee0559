import { basename } from 'node:path';
import { KINDS, API_VERSION } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import {
  canonicalApiserverError,
  invalidExamples,
  kubectlInvalidErrors,
  loadManifests,
  policyCliErrors,
  validExampleFiles,
} from './examples.js';

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

  it('has policies of every kind', () => {
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

  it('lists the errors of every file, the first one blaming a field under spec', () => {
    for (const { file, errors } of invalid) {
      expect(errors[0], file).toMatch(/^spec[.[]/);
      for (const e of errors) expect(e, file).toMatch(/^(spec[.[]\S*|<nil>): \S/);
    }
  });
});

describe('reading rejections', () => {
  const nil =
    '<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

  it('drops the field the apiserver repeats before a schema check, and nothing else', () => {
    expect(canonicalApiserverError(`spec.a: Invalid value: "1 s": spec.a in body should match '^x$'`)).toBe(
      `spec.a: Invalid value: "1 s": should match '^x$'`,
    );
    expect(canonicalApiserverError('spec.a: Invalid value: "object": spec.a in body is not what this rule says')).toBe(
      'spec.a: Invalid value: "object": is not what this rule says',
    );
    expect(canonicalApiserverError('spec.b: Invalid value: "object": b must be set')).toBe(
      'spec.b: Invalid value: "object": b must be set',
    );
    expect(canonicalApiserverError(nil)).toBe(nil);
  });

  it('reads the one error and the list forms of kubectl apply', () => {
    expect(
      kubectlInvalidErrors(
        'The CachePolicy "x" is invalid: spec.ttl: Invalid value: 0: spec.ttl in body should be greater than or equal to 1\n',
      ),
    ).toEqual(['spec.ttl: Invalid value: 0: should be greater than or equal to 1']);
    expect(kubectlInvalidErrors(`The CachePolicy "x" is invalid: \n* spec.ttl: Required value\n* ${nil}\n`)).toEqual([
      'spec.ttl: Required value',
      nil,
    ]);
    expect(kubectlInvalidErrors('Error from server (NotFound): not found')).toEqual([]);
  });

  it('reads the lines of jarvis-policy validate for one object', () => {
    const manifest = { apiVersion: API_VERSION, kind: 'CachePolicy', metadata: { name: 'x', namespace: 'ns' } };
    const out = [
      'f.yaml: CachePolicy ns/x: spec.ttl: Required value',
      `f.yaml: CachePolicy ns/x: ${nil.slice('<nil>: '.length)}`,
      'f.yaml: CachePolicy ns/other: spec.ttl: Required value',
      '1 file, 1 policy: 2 errors, 0 warnings',
    ].join('\n');
    expect(policyCliErrors(out, 'f.yaml', manifest)).toEqual(['spec.ttl: Required value', nil]);
  });
});
