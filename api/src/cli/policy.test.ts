import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateIR } from '../ir/validate.js';
import { main } from './policy.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

function run(...argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** Directories made by tmp(), removed after each test. */
const tmpDirs: string[] = [];
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-policy-'));
  tmpDirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('jarvis-policy validate', () => {
  it('accepts examples/ (not recursive: invalid/ is left out)', () => {
    const r = run('validate', EXAMPLES);
    expect(r.out).toBe('11 files, 18 policies: 0 errors, 0 warnings\n');
    expect(r.code).toBe(0);
  });

  it('rejects every file of examples/invalid/ with the errors each lists', () => {
    const r = run('validate', join(EXAMPLES, 'invalid'));
    expect(r.code).toBe(1);
    const files = readdirSync(join(EXAMPLES, 'invalid')).filter((f) => f.endsWith('.yaml'));
    let errors = 0;
    for (const f of files) {
      const path = join(EXAMPLES, 'invalid', f);
      const listed = [...readFileSync(path, 'utf8').matchAll(/^# error: (?:<nil>: )?(.+)$/gm)].map((m) => m[1]!);
      const printed = r.out.split('\n').filter((l) => l.startsWith(`${path}: `));
      expect(printed.map((l) => l.replace(/^[^:]+: \S+ [^:]+: /, '')).sort(), f).toEqual(listed.sort());
      errors += listed.length;
    }
    expect(r.out).toMatch(
      /^.*ratelimitpolicy-burst-below-rate\.yaml: RateLimitPolicy jarvis\/burst-below-rate: spec\.limits\[0\]\.burst: Invalid value/m,
    );
    expect(r.out.trim().split('\n').at(-1)).toBe(`${files.length} files, ${files.length} policies: ${errors} errors, 0 warnings`);
  });

  it('-R recurses into invalid/', () => {
    expect(run('validate', '-R', EXAMPLES).code).toBe(1);
  });

  it('missing targets are warnings, errors with --strict', () => {
    const file = join(EXAMPLES, '30-ratelimitpolicies.yaml');
    const r = run('validate', file);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `${file}: RateLimitPolicy jarvis/chat-limits: spec.targetRefs[0]: warning: HTTPRoute jarvis/chat does not exist`,
    );
    expect(r.out).toContain('0 errors, 3 warnings');
    const strict = run('validate', '--strict', file);
    expect(strict.code).toBe(1);
    expect(strict.out).toContain('3 errors, 0 warnings');
  });

  it('reports semantic problems and conflicts as errors, non-policy objects are inputs', () => {
    const dir = tmp({
      'a.yaml': `apiVersion: v1
kind: Service
metadata: { name: svc, namespace: ns }
spec: { ports: [{ port: 80 }] }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: CachePolicy
metadata: { name: a, namespace: ns }
spec:
  targetRefs: [{ group: "", kind: Service, name: svc }]
  ttl: 1m
`,
      'b.yml': `apiVersion: stability.jarvis.io/v1alpha1
kind: CachePolicy
metadata: { name: b, namespace: ns }
spec:
  targetRefs: [{ group: "", kind: Service, name: svc }]
  ttl: 2m
---
apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: d, namespace: ns }
spec:
  targetRefs: [{ group: "", kind: Service, name: svc }]
  fallback: { chain: [{ name: x, backendRef: { name: svc, port: 8000 } }] }
`,
      'notes.txt': 'not a manifest',
    });
    const r = run('validate', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `${join(dir, 'b.yml')}: CachePolicy ns/b: spec.targetRefs[0]: conflicted: Service ns/svc already has CachePolicy ns/a`,
    );
    expect(r.out).toContain(
      `${join(dir, 'b.yml')}: DegradationPolicy ns/d: spec.fallback.chain[0].backendRef: Service ns/svc has no port 8000`,
    );
    expect(r.out).toContain('2 files, 3 policies: 2 errors, 0 warnings');
  });

  it('names a file whose YAML does not parse, and documents without kind', () => {
    const dir = tmp({ 'bad.yaml': 'a: [1, 2\n', 'nokind.yaml': 'metadata: { name: x }\n' });
    const r = run('validate', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${join(dir, 'bad.yaml')}: YAML: `);
    expect(r.out).toContain(`${join(dir, 'nokind.yaml')}: document 1: apiVersion and kind are required`);
  });

  it('refuses an alias bomb in a policy, naming the file', () => {
    const levels = ['x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) levels.push(`x${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
    const dir = tmp({
      'bomb.yaml': `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: bomb, namespace: ns }
${levels.join('\n')}
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r }]
  limits:
  - { name: *a8, scope: Route, rate: { requests: 1, per: 1s } }
  - { name: *a8, scope: Route, rate: { requests: 1, per: 1s } }
`,
      'ok.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: svc, namespace: ns }\nspec: { ports: [{ port: 80 }] }\n',
    });
    const r = run('validate', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${join(dir, 'bomb.yaml')}: YAML: aliases expand the documents beyond`);
    expect(r.out).toContain('2 files, 0 policies: 1 error, 0 warnings');
  });

  it('refuses a document nested 10^5 deep, naming the file', () => {
    const dir = tmp({ 'deep.json': '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000) });
    const r = run('validate', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${join(dir, 'deep.json')}: YAML: not valid YAML: nesting exceeded maxDepth (100)`);
  });

  it('refuses an HTTPRoute pattern RE2 cannot compile, with or without our Gateway in the files', () => {
    const httpRoute = (value: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: ns }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: RegularExpression, value: "${value}" } }], backendRefs: [{ name: svc, port: 80 }] }]
`;
    const alone = tmp({ 'route.yaml': httpRoute('/(?!admin).*') });
    const r = run('validate', alone);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `${join(alone, 'route.yaml')}: HTTPRoute ns/r: spec.rules[0].matches[0].path.value: UnsupportedValue: invalid regular expression "/(?!admin).*": not valid RE2 syntax`,
    );
    const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec: { gatewayClassName: jarvis, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }
`;
    const withGateway = tmp({ 'gw.yaml': gateway, 'route.yaml': httpRoute('/(a)\\\\1') });
    const g = run('validate', withGateway);
    expect(g.code).toBe(1);
    expect(g.out).toMatch(
      /route\.yaml: HTTPRoute ns\/r: spec\.parentRefs: not accepted by Gateway ns\/gw \(UnsupportedValue\): .*invalid regular expression/,
    );
    expect(run('validate', tmp({ 'route.yaml': httpRoute('/api/v[0-9]+/.*') })).code).toBe(0);
  });

  it('skips a FIFO in a directory instead of waiting on it, and refuses one named directly', () => {
    const dir = tmp({ 'ok.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: ns }\n' });
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    const r = run('validate', dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${join(dir, 'pipe.yaml')}: file: warning: not a regular file: skipped`);
    const direct = run('validate', join(dir, 'pipe.yaml'));
    expect(direct.code).toBe(2);
    expect(direct.err).toContain('not a regular file');
  });

  it('exits 2 on usage errors and unreadable paths', () => {
    expect(run().code).toBe(2);
    expect(run('lint', EXAMPLES).code).toBe(2);
    expect(run('validate').code).toBe(2);
    expect(run('validate', '--bogus', EXAMPLES).code).toBe(2);
    expect(run('render', '-o', 'xml', EXAMPLES).code).toBe(2);
    const missing = run('validate', join(EXAMPLES, 'no-such-dir'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no-such-dir');
    expect(run('--help').code).toBe(0);
  });
});

describe('jarvis-policy render', () => {
  it('prints the IR of examples/ as JSON that validates', () => {
    const r = run('render', '-o', 'json', EXAMPLES);
    expect(r.code).toBe(0);
    const checked = validateIR(JSON.parse(r.out));
    expect(checked.ok).toBe(true);
    if (checked.ok) expect(checked.ir.gateways.map((g) => g.id)).toEqual(['jarvis/jarvis-gateway']);
  });

  it('prints YAML by default and nothing when validation fails', () => {
    expect(run('render', EXAMPLES).out).toMatch(/^gateways:\n/);
    const bad = run('render', '--output=json', join(EXAMPLES, 'invalid'));
    expect(bad.code).toBe(1);
    expect(bad.out).toBe('');
    expect(bad.err).toContain('errors');
  });
});
