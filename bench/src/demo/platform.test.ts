/** examples/local/ (the README's cluster walkthrough by hand) agrees with examples/ and the demo. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { examplesDir, loadManifests, validExampleFiles } from '@jarvis/e2e/dist/examples.js';
import { parseSpec } from '@jarvis/mocks';
import { describe, expect, it } from 'vitest';

import { exampleServices, mockFor } from './platform.js';

const local = join(examplesDir, 'local');
const services = exampleServices(validExampleFiles());

interface Slice {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  addressType: string;
  ports: { name: string; port: number }[];
  endpoints: { addresses: string[] }[];
}

describe('examples/local', () => {
  const spec = parseSpec(readFileSync(join(local, 'mocks.json'), 'utf8'));
  const slices = loadManifests(join(local, 'endpointslices.yaml')) as unknown as Slice[];

  it('mocks.json: one mock per Service of examples/, as the demo runs it, each on its own port', () => {
    expect(spec.mocks.map((m) => m.name)).toEqual(services.map((s) => s.name));
    for (const m of spec.mocks) expect({ ...m, port: undefined }).toEqual({ ...mockFor(m.name), port: undefined });
    const ports = spec.mocks.map((m) => m.port);
    expect(new Set(ports).size).toBe(ports.length);
  });

  it("endpointslices.yaml: each Service's port name, <service>.localhost, and its mock's port", () => {
    expect(slices).toHaveLength(services.length);
    for (const s of services) {
      const slice = slices.find((x) => x.metadata.labels['kubernetes.io/service-name'] === s.name);
      expect(slice, s.name).toBeDefined();
      expect(slice?.metadata.namespace).toBe(s.namespace);
      expect(slice?.addressType).toBe('FQDN');
      expect(slice?.endpoints.flatMap((e) => e.addresses)).toEqual([`${s.name}.localhost`]);
      expect(slice?.ports).toEqual([expect.objectContaining({ name: s.portName, port: spec.mocks.find((m) => m.name === s.name)?.port })]);
    }
  });

  it('is not part of examples/ itself (kubectl apply -f examples/ is not recursive)', () => {
    expect(validExampleFiles().every((f) => !f.includes('/local/'))).toBe(true);
  });
});
