/**
 * The policy API on a real kube-apiserver, driven with kubectl: the CRDs install, the examples
 * are accepted (and defaulted), every invalid example is rejected with exactly the errors its
 * header lists — and `jarvis-policy validate` reports the same ones —, `kubectl explain` teaches
 * the API, and `kubectl get` shows the printer columns.
 */
import { basename, join } from 'node:path';
import { KINDS, NOT_ENFORCED, validateManifest } from '@jarvis/api';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { examplesDir, invalidExamples, kubectlInvalidErrors, loadManifests, policyCliErrors, validExampleFiles } from '../src/examples.js';
import { installCrds, repoCrdFiles } from '../src/envtest/crds.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { repoRoot } from '../src/paths.js';
import { CommandError, run } from '../src/util/exec.js';

/** The kinds with defaults and overrides (all but ClientIdentityPolicy, which targets Gateways only). */
const SECTIONED_KINDS = KINDS.filter((k) => k.spec !== k.settings);

/** `jarvis-policy validate FILE` as a pipeline runs it: exit code and stdout. */
async function policyValidate(file: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [join(repoRoot, 'api/dist/cli/policy.js'), 'validate', file], { timeoutMs: 30_000 });
    return { code: 0, stdout };
  } catch (err) {
    if (err instanceof CommandError) return { code: err.exitCode ?? -1, stdout: err.stdout };
    throw err;
  }
}

const sorted = (lines: readonly string[]) => [...lines].sort();

let kubectl: Kubectl;
/** The README's `kubectl apply -f crds/`, run on the control plane the harness set up. */
let crdsApplied: { code: number; stderr: string; stdout: string };

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  // As the harness (and envtest:up) leave them — other files (the chart's server-side apply) may
  // have changed how they are managed since.
  await installCrds({ kubeconfig: inject('kubeconfig') }, await repoCrdFiles());
  crdsApplied = await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
});

describe('crds/', () => {
  it('applies with kubectl apply -f crds/ after the harness (and envtest:up) installed them, without a warning', () => {
    expect(crdsApplied.stderr).toBe('');
    expect(crdsApplied.code).toBe(0);
    expect(crdsApplied.stdout).toMatch(/ratelimitpolicies\.stability\.jarvis\.io (unchanged|configured)/);
  });
});

describe('examples/', () => {
  it('applies cleanly: every object is accepted by the apiserver', async () => {
    const result = await kubectl(['apply', '-f', examplesDir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listed = (await kubectl.ok(['get', '-f', examplesDir, '-o', 'name'])).trim().split('\n');
    const expected = validExampleFiles().flatMap(loadManifests);
    expect(listed).toHaveLength(expected.length);
    for (const m of expected)
      expect(
        listed.some((line) => line.endsWith(`/${m.metadata.name}`)),
        m.metadata.name,
      ).toBe(true);
  });

  it('gets the schema defaults filled in by the apiserver', async () => {
    const chat = JSON.parse(await kubectl.ok(['get', 'ratelimitpolicy', 'chat-limits', '-n', 'jarvis', '-o', 'json'])) as {
      spec: { mode: string; store: string; hotspot: { window: string; topK: number } };
    };
    expect(chat.spec.mode).toBe('Enforce');
    expect(chat.spec.store).toBe('Redis');
    expect(chat.spec.hotspot).toMatchObject({ window: '10s', topK: 20 });
    const queue = JSON.parse(await kubectl.ok(['get', 'queuepolicy', 'chat-queue', '-n', 'jarvis', '-o', 'json'])) as {
      spec: Record<string, unknown>;
    };
    expect(queue.spec).toMatchObject({
      rejectStatus: 503,
      deadline: { header: 'x-request-deadline-ms' },
      fairness: { quantum: 1, maxFlows: 10000 },
    });
  });
});

describe('examples/invalid/', () => {
  for (const example of invalidExamples()) {
    it(`rejects ${basename(example.file)} with exactly the errors it lists, and jarvis-policy validate reports the same`, async () => {
      const result = await kubectl(['apply', '-f', example.file]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('is invalid');
      const apiserver = kubectlInvalidErrors(result.stderr);
      expect(sorted(apiserver), result.stderr).toEqual(sorted(example.errors));

      const offline = await policyValidate(example.file);
      expect(offline.code).toBe(1);
      expect(sorted(policyCliErrors(offline.stdout, example.file, example.manifest)), offline.stdout).toEqual(sorted(apiserver));

      const plural = KINDS.find((k) => k.kind === example.manifest.kind)?.plural ?? '';
      const after = await kubectl(['get', plural, example.manifest.metadata.name, '-n', 'jarvis']);
      expect(after.stderr).toContain('NotFound');
    });
  }
});

describe('schema fixes', () => {
  it('labels every CRD as a Gateway API inherited policy', async () => {
    const out = await kubectl.ok(['get', 'crds', '-l', 'gateway.networking.k8s.io/policy=Inherited', '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual(
      KINDS.map((k) => `customresourcedefinition.apiextensions.k8s.io/${k.plural}.stability.jarvis.io`).sort(),
    );
  });

  it('accepts activeHealthCheck: {} and fills in its defaults', async () => {
    const manifest = {
      apiVersion: 'stability.jarvis.io/v1alpha1',
      kind: 'CircuitBreakerPolicy',
      metadata: { name: 'empty-health-check', namespace: 'jarvis' },
      spec: { targetRefs: [{ group: '', kind: 'Service', name: 'vector-search' }], activeHealthCheck: {} },
    };
    await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    try {
      const got = JSON.parse(await kubectl.ok(['get', 'cbp', 'empty-health-check', '-n', 'jarvis', '-o', 'json'])) as {
        spec: { activeHealthCheck: Record<string, unknown> };
      };
      expect(got.spec.activeHealthCheck).toEqual({
        type: 'HTTP',
        interval: '5s',
        timeout: '1s',
        unhealthyThreshold: 3,
        healthyThreshold: 2,
      });
    } finally {
      await kubectl.ok(['delete', 'cbp', 'empty-health-check', '-n', 'jarvis']);
    }
  });

  it('accepts each duration at its bounds and refuses it just outside, with one error', async () => {
    const policy = (per: string) => ({
      apiVersion: 'stability.jarvis.io/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'period-bounds', namespace: 'jarvis' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'chat' }],
        limits: [{ name: 'l', scope: 'Global', rate: { requests: 1, per } }],
      },
    });
    for (const per of ['1ms', '744h', '743h59m59s999ms']) {
      const ok = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(policy(per)) });
      expect(ok.stderr, per).toBe('');
    }
    for (const per of ['0s', '0ms', '744h1ms', '745h']) {
      const refused = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(policy(per)) });
      expect(kubectlInvalidErrors(refused.stderr), per).toEqual([
        'spec.limits[0].rate.per: Invalid value: "string": must be at least 1ms and at most 744h',
      ]);
    }
  });
});

describe('defaults and overrides, for every kind', () => {
  type Obj = Record<string, unknown>;
  /** The first example policy of each kind: its settings, moved around. */
  const examples = new Map<string, Obj>();
  for (const file of validExampleFiles())
    for (const m of loadManifests(file))
      if (!examples.has(m.kind) && KINDS.some((k) => k.kind === m.kind)) examples.set(m.kind, m as unknown as Obj);

  const GATEWAY = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'jarvis-gateway' };
  const NAMESPACE = { group: '', kind: 'Namespace', name: 'jarvis' };

  function variant(kind: string, name: string, spec: (settings: Obj, targetRefs: unknown) => Obj): Obj {
    const example = examples.get(kind)!;
    const { targetRefs, ...settings } = example.spec as Obj;
    return { apiVersion: example.apiVersion, kind, metadata: { name, namespace: 'jarvis' }, spec: spec(settings, targetRefs) };
  }

  /** The apiserver's errors for a manifest (dry run), and the offline validator's, canonical. */
  async function bothErrors(manifest: Obj): Promise<{ apiserver: string[]; offline: string[] }> {
    const result = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(manifest) });
    const offline = validateManifest(manifest);
    return {
      apiserver: sorted(kubectlInvalidErrors(result.stderr)),
      offline: sorted(offline.ok ? [] : offline.errors.map((e) => `${e.path || '<nil>'}: ${e.message}`)),
    };
  }

  it.each(SECTIONED_KINDS.map((k) => [k.kind] as const))(
    '%s: settings under defaults or overrides are accepted and defaulted there',
    async (kind) => {
      for (const [role, targets] of [
        ['defaults', undefined],
        ['overrides', [GATEWAY, NAMESPACE]],
      ] as const) {
        const manifest = variant(kind, `sections-${role}`, (settings, targetRefs) => ({
          targetRefs: targets ?? targetRefs,
          [role]: { strategy: 'Merge', ...settings },
        }));
        const result = await kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(manifest) });
        expect(result.stderr, `${kind} ${role}`).toBe('');
        const stored = JSON.parse(result.stdout) as { spec: Obj };
        const offline = validateManifest(manifest);
        expect(offline.ok).toBe(true);
        // The apiserver defaults inside the section as the offline validator does.
        expect((stored.spec[role] as Obj).strategy).toBe('Merge');
        if (offline.ok) expect(stored.spec[role]).toEqual((offline.policy.spec as unknown as Obj)[role]);
      }
    },
  );

  it.each(SECTIONED_KINDS.map((k) => [k.kind] as const))(
    '%s: every section rule refuses what it should, with the same complete error list offline',
    async (kind) => {
      const cases: [string, Obj, RegExp][] = [
        [
          'both sections',
          variant(kind, 'both-sections', (settings) => ({ targetRefs: [GATEWAY], defaults: { ...settings }, overrides: { ...settings } })),
          /defaults and overrides are mutually exclusive/,
        ],
        [
          'overrides on an HTTPRoute',
          variant(kind, 'overrides-on-route', (settings) => ({
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'chat' }],
            overrides: { ...settings },
          })),
          /overrides apply only to Gateways and the policy's Namespace/,
        ],
        [
          'settings beside overrides',
          variant(kind, 'beside-overrides', (settings) => ({ targetRefs: [GATEWAY], ...settings, overrides: { ...settings } })),
          /belongs inside defaults or overrides when the policy has one/,
        ],
        ['no settings', variant(kind, 'no-settings', (_settings, targetRefs) => ({ targetRefs })), /./],
        [
          'a Namespace target with a sectionName',
          variant(kind, 'namespace-section', (settings) => ({ targetRefs: [{ ...NAMESPACE, sectionName: 'http' }], ...settings })),
          /a Namespace target has no sectionName/,
        ],
      ];
      for (const [what, manifest, expected] of cases) {
        const { apiserver, offline } = await bothErrors(manifest);
        expect(apiserver.length, `${kind}: ${what}`).toBeGreaterThan(0);
        expect(
          apiserver.some((e) => expected.test(e)),
          `${kind}: ${what}: ${apiserver.join('\n')}`,
        ).toBe(true);
        expect(offline, `${kind}: ${what}`).toEqual(apiserver);
      }
    },
  );
});

describe('kubectl explain', () => {
  it('prints the descriptions of ratelimitpolicies.spec --recursive', async () => {
    const out = await kubectl.ok(['explain', 'ratelimitpolicies.spec', '--recursive']);
    expect(out).toContain('Rate limits for the targets');
    for (const field of ['targetRefs', 'limits', 'algorithm', 'tenantOverrides', 'failureMode', 'hotspot', 'activateSharePercent'])
      expect(out).toContain(field);
  });

  it.each(KINDS.map((k) => [k.plural] as const))('describes the fields of %s, nested ones too', async (plural) => {
    if (plural === 'clientidentitypolicies')
      // Identity is settled before routing, for a whole Gateway: its targets have no sectionName.
      expect(await kubectl.ok(['explain', `${plural}.spec.jwt.providers.keys.secretRef.key`])).toContain('Entry of the Secret');
    else expect(await kubectl.ok(['explain', `${plural}.spec.targetRefs.sectionName`])).toContain('a listener name of a Gateway');
    expect(await kubectl.ok(['explain', plural])).toMatch(/DESCRIPTION:\s+\S/);
  });

  it.each(KINDS.map((k) => [k.kind, k] as const))(
    'says whether a gateway enforces %s, on the kind and on every spec field',
    async (_kind, def) => {
      const flat = (text: string) => text.replace(/\s+/g, ' ');
      const times = (text: string) => flat(text).split(NOT_ENFORCED).length - 1;
      // The kind's description, and the spec's in its list of fields.
      expect(times(await kubectl.ok(['explain', def.plural]))).toBe(def.enforced ? 0 : 2);
      // The spec's own description and each field's but targetRefs': as many as the spec has fields.
      const fields = Object.keys(def.spec.properties).length;
      expect(times(await kubectl.ok(['explain', `${def.plural}.spec`]))).toBe(def.enforced ? 0 : fields);
      expect(times(await kubectl.ok(['explain', `${def.plural}.spec.targetRefs`]))).toBe(0);
    },
  );
});

describe('kubectl get', () => {
  it('shows the first target, Accepted, Enforced and Age, read from the spec and the status conditions', async () => {
    const before = await kubectl.ok(['get', 'ratelimitpolicies', '-n', 'jarvis']);
    expect(before.split('\n')[0]).toMatch(/^NAME\s+TARGET KIND\s+TARGET NAME\s+ACCEPTED\s+ENFORCED\s+AGE\s*$/);

    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = {
      status: {
        observedGeneration: 1,
        conditions: [
          { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Policy accepted', lastTransitionTime: now },
          { type: 'Enforced', status: 'False', reason: 'Pending', message: 'Waiting for gateways', lastTransitionTime: now },
        ],
      },
    };
    await kubectl.ok([
      'patch',
      'ratelimitpolicy',
      'gateway-defaults',
      '-n',
      'jarvis',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    const row = (await kubectl.ok(['get', 'ratelimitpolicy', 'gateway-defaults', '-n', 'jarvis', '--no-headers'])).trim();
    expect(row).toMatch(/^gateway-defaults\s+Gateway\s+jarvis-gateway\s+True\s+False\s+\S+$/);
  });

  it('knows the short names and the jarvis category', async () => {
    for (const def of KINDS) {
      const out = await kubectl.ok(['get', def.shortNames[0] ?? def.plural, '-n', 'jarvis', '-o', 'name']);
      expect(out).toContain(`${def.kind.toLowerCase()}.stability.jarvis.io/`);
    }
    const all = await kubectl.ok(['get', 'jarvis', '-n', 'jarvis', '-o', 'name']);
    const policies = validExampleFiles()
      .flatMap(loadManifests)
      .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));
    expect(all.trim().split('\n').sort()).toEqual(
      policies.map((p) => `${p.kind.toLowerCase()}.stability.jarvis.io/${p.metadata.name}`).sort(),
    );
  });

  it('ignores a status written through the main resource (status is a subresource)', async () => {
    await kubectl.ok([
      'patch',
      'cachepolicy',
      'chat-cache',
      '-n',
      'jarvis',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { observedGeneration: 99 } }),
    ]);
    const got = JSON.parse(await kubectl.ok(['get', 'cachepolicy', 'chat-cache', '-n', 'jarvis', '-o', 'json'])) as {
      status?: { observedGeneration?: number };
    };
    expect(got.status?.observedGeneration).not.toBe(99);
  });
});
