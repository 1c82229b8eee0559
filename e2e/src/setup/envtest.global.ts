/**
 * vitest globalSetup: a Kubernetes API for the e2e project (see acquireControlPlane for where it
 * comes from). Tests read its admin kubeconfig with `inject('kubeconfig')`.
 */
import type { TestProject } from 'vitest/node';

import './context.js';
import { acquireControlPlane } from '../envtest/index.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await acquireControlPlane({ log: (line) => process.stderr.write(`[envtest] ${line}\n`) });
  project.provide('kubeconfig', cp.kubeconfig);
  return async () => {
    await cp.release();
  };
}
