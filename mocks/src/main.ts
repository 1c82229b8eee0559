#!/usr/bin/env node
/**
 * jarvis-mocks: starts the mock upstreams of a spec and prints one JSON line on stdout,
 * `{"mocks":[{"name","kind","port","url"}, ...]}`, then serves until SIGINT/SIGTERM.
 *
 *   node mocks/dist/main.js --spec '{"mocks":[{"name":"gpt-4","kind":"llm","latencyMs":50}]}'
 *   node mocks/dist/main.js --spec mocks.json
 */
import { existsSync, readFileSync } from 'node:fs';

import { startMocks } from './server.js';

function usage(message: string): never {
  process.stderr.write(`jarvis-mocks: ${message}\nusage: jarvis-mocks --spec JSON|FILE\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--spec');
  const arg = i >= 0 ? argv[i + 1] : undefined;
  if (arg === undefined) usage('--spec is required');
  const text =
    arg.trimStart().startsWith('{') || arg.trimStart().startsWith('[')
      ? arg
      : existsSync(arg)
        ? readFileSync(arg, 'utf8')
        : usage(`no such file ${arg}`);
  let mocks;
  try {
    mocks = await startMocks(text);
  } catch (err) {
    process.stderr.write(`jarvis-mocks: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${JSON.stringify({ mocks: mocks.mocks.map((m) => ({ name: m.name, kind: m.kind, port: m.port, url: m.url })) })}\n`,
  );
  const stop = (): void => {
    void mocks.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main(process.argv.slice(2));
