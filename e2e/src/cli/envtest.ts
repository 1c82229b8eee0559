#!/usr/bin/env node
/**
 * A long-lived test control plane (etcd + kube-apiserver) for development:
 *
 *   node e2e/dist/cli/envtest.js up       start it (or reuse a healthy one); last stdout line = kubeconfig
 *   node e2e/dist/cli/envtest.js down     stop it and remove its files
 *   node e2e/dist/cli/envtest.js status   print its state; exit code 1 when none is healthy
 *
 * Progress goes to stderr. Test runs (acquireControlPlane) reuse the instance while it runs.
 */
import { clock, since } from '../clock.js';
import {
  checkInstance,
  ensureBinaries,
  ensureInstanceCrds,
  GATEWAY_API_VERSION,
  gatewayApiCrdFiles,
  installCrds,
  readState,
  repoCrdFiles,
  runDir,
  startControlPlane,
  stateFilePath,
  stateFromControlPlane,
  stopInstance,
  withStateLock,
  writeState,
} from '../envtest/index.js';

const log = (line: string): void => {
  process.stderr.write(`[envtest] ${line}\n`);
};

async function up(): Promise<string> {
  // Outside the lock: a first build takes minutes and must not hold up `down` or test runs.
  const binaries = await ensureBinaries({ log });
  return withStateLock(
    async () => {
      const previous = await readState();
      if (previous) {
        const health = await checkInstance(previous);
        if (health.healthy) {
          log(`reusing the running control plane at ${previous.server} (started ${previous.startedAt})`);
          return (await ensureInstanceCrds(previous, log)).kubeconfig;
        }
        log(`the recorded control plane is not healthy (${health.reason}); cleaning it up`);
        await stopInstance(previous);
      }
      const start = clock.now();
      const cp = await startControlPlane({ detached: true, dir: runDir(), log, binaries });
      const state = stateFromControlPlane(cp);
      await writeState(state);
      try {
        const files = [...(await gatewayApiCrdFiles()), ...(await repoCrdFiles())];
        await installCrds(cp, files, { log });
        await writeState({ ...state, gatewayApiVersion: GATEWAY_API_VERSION });
      } catch (err) {
        log('installing CRDs failed; stopping the control plane');
        await stopInstance(state).catch((stopErr: unknown) => log(`while stopping: ${String(stopErr)}`));
        throw err;
      }
      log(`control plane up in ${since(start)} ms: ${cp.server} (etcd pid ${cp.etcdPid}, kube-apiserver pid ${cp.apiserverPid})`);
      log(`logs: ${cp.dir}/{etcd,kube-apiserver}.log — stop with: npm run envtest:down`);
      return cp.kubeconfig;
    },
    { log },
  );
}

async function down(): Promise<void> {
  await withStateLock(
    async () => {
      const state = await readState();
      if (!state) {
        log(`nothing to stop (no ${stateFilePath()})`);
        return;
      }
      await stopInstance(state);
      log(`stopped the control plane at ${state.server} and removed ${state.dir}`);
    },
    { log },
  );
}

async function status(): Promise<boolean> {
  const state = await readState();
  if (!state) {
    log(`no control plane recorded (${stateFilePath()})`);
    return false;
  }
  const health = await checkInstance(state);
  process.stdout.write(`${JSON.stringify({ ...state, ...health }, null, 2)}\n`);
  return health.healthy;
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  switch (command) {
    case 'up':
      process.stdout.write(`${await up()}\n`);
      return 0;
    case 'down':
      await down();
      return 0;
    case 'status':
      return (await status()) ? 0 : 1;
    default:
      process.stderr.write('usage: envtest <up|down|status>\n');
      return command === undefined || command === '-h' || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
