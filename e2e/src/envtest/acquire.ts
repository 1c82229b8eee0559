import { access, constants } from 'node:fs/promises';
import path from 'node:path';

import { clock, since } from '../clock.js';
import { startControlPlane } from './control-plane.js';
import { GATEWAY_API_VERSION, gatewayApiCrdFiles, installCrds, repoCrdFiles } from './crds.js';
import { checkInstance, type EnvtestState, readState, stateFilePath, withStateLock, writeState } from './state.js';

export interface AcquiredControlPlane {
  /** Admin kubeconfig. */
  kubeconfig: string;
  /** env: $JARVIS_E2E_KUBECONFIG; envtest-up: the instance of `npm run envtest:up`; fresh: ours. */
  source: 'env' | 'envtest-up' | 'fresh';
  /** Stops the control plane when it is ours; no-op otherwise. */
  release(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * (Re)installs our CRDs into a recorded instance, plus the Gateway API ones when the state does
 * not say they were installed completely (e.g. `up` was interrupted). Call with the state lock held.
 */
export async function ensureInstanceCrds(state: EnvtestState, log: Log): Promise<EnvtestState> {
  const ours = await repoCrdFiles();
  if (state.gatewayApiVersion === GATEWAY_API_VERSION) {
    await installCrds({ kubeconfig: state.kubeconfig }, ours, { log });
    return state;
  }
  await installCrds({ kubeconfig: state.kubeconfig }, [...(await gatewayApiCrdFiles()), ...ours], { log });
  const updated = { ...state, gatewayApiVersion: GATEWAY_API_VERSION };
  await writeState(updated);
  return updated;
}

/**
 * A Kubernetes API for a test run, with our CRDs (<repo>/crds) installed:
 * 1. `$JARVIS_E2E_KUBECONFIG` when set (only our CRDs are (re)installed there);
 * 2. else the healthy instance started by `npm run envtest:up` (our CRDs are reinstalled, they
 *    may have changed since);
 * 3. else a fresh private control plane with the Gateway API standard CRDs and ours, stopped
 *    by `release()` (and killed if this process is interrupted or exits).
 */
export async function acquireControlPlane(opts: { log?: Log } = {}): Promise<AcquiredControlPlane> {
  const log = opts.log ?? ((): void => undefined);
  const noop = async (): Promise<void> => undefined;

  const fromEnv = process.env['JARVIS_E2E_KUBECONFIG'];
  if (fromEnv) {
    const kubeconfig = path.resolve(fromEnv);
    await access(kubeconfig, constants.R_OK).catch(() => {
      throw new Error(`JARVIS_E2E_KUBECONFIG=${fromEnv}: cannot read ${kubeconfig}`);
    });
    log(`using JARVIS_E2E_KUBECONFIG=${kubeconfig}`);
    await installCrds({ kubeconfig }, await repoCrdFiles(), { log });
    return { kubeconfig, source: 'env', release: noop };
  }

  const running = await withStateLock(
    async () => {
      const state = await readState();
      if (!state) return undefined;
      const health = await checkInstance(state);
      if (!health.healthy) {
        log(`${stateFilePath()} names an instance that is not healthy (${health.reason}); starting a private one`);
        return undefined;
      }
      log(`reusing the envtest:up control plane at ${state.server}`);
      return ensureInstanceCrds(state, log);
    },
    { log },
  );
  if (running) return { kubeconfig: running.kubeconfig, source: 'envtest-up', release: noop };

  const start = clock.now();
  const cp = await startControlPlane({ log });
  try {
    await installCrds(cp, [...(await gatewayApiCrdFiles()), ...(await repoCrdFiles())], { log });
  } catch (err) {
    await cp.stop().catch(() => undefined);
    throw err;
  }
  log(`control plane with CRDs ready in ${since(start)} ms (${cp.server})`);
  return { kubeconfig: cp.kubeconfig, source: 'fresh', release: () => cp.stop() };
}
