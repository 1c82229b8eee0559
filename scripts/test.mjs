#!/usr/bin/env node
// `npm test`: everything — build, lint, unit, contract, golden, protocol and e2e tests.
// Installs the npm dependencies when missing, builds the test tools when missing (etcd,
// kube-apiserver, helm, rulecheck: Go, into ~/.cache), and lets the e2e project start Redis and the
// control plane when none is running.
//   npm test                      all projects
//   npm test -- --project unit    one vitest project (unit | e2e); other vitest flags pass through
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const bin = (name) => join(root, 'node_modules', '.bin', name);

function step(title, file, argv, env = process.env) {
  console.error(`\n[jarvis] ${title}`);
  const started = process.hrtime.bigint();
  const result = spawnSync(file, argv, { cwd: root, stdio: 'inherit', env });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.error(`[jarvis] ${title}: ${result.status === 0 ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)}s`);
  return result.status ?? 1;
}

ensureDeps();
if (step('build (tsc -b)', bin('tsc'), ['-b']) !== 0) process.exit(1);
if (step('link workspace binaries', process.execPath, [join(root, 'scripts', 'link-bins.mjs')]) !== 0) process.exit(1);
if (step('lint (eslint)', bin('eslint'), ['--max-warnings=0', '.']) !== 0) process.exit(1);

const projectIndex = args.indexOf('--project');
const project = projectIndex >= 0 ? args[projectIndex + 1] : undefined;
if (project === undefined || project === 'e2e') {
  // Built before vitest starts, so that a cold Go build (minutes) counts against no test timeout:
  // etcd and kube-apiserver (unless JARVIS_ENVTEST_BIN_DIR has them), and the chart tests' helm
  // and rulecheck. Each is built only when missing.
  const scripts = [...(process.env.JARVIS_ENVTEST_BIN_DIR ? [] : ['build-binaries.sh']), 'build-chart-tools.sh'].map(
    (s) => `bash '${join(root, 'e2e', 'envtest', s)}' >/dev/null`,
  );
  if (step('test tools: etcd, kube-apiserver, helm, rulecheck (built once, cached)', 'bash', ['-c', `set -e; ${scripts.join('; ')}`]) !== 0)
    process.exit(1);
}

const reportDir = mkdtempSync(join(tmpdir(), 'jarvis-test-'));
const report = join(reportDir, 'vitest.json');
const status = step('vitest', bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args]);

// A last line any CI can read: "tests: N passed, N failed".
try {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = results.numPendingTests + results.numTodoTests;
  console.log(`tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''));
} catch {
  console.log('tests: 0 passed, 1 failed (vitest wrote no report)');
}
rmSync(reportDir, { recursive: true, force: true });
process.exit(status);
