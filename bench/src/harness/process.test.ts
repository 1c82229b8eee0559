import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { startJsonService } from './process.js';

describe('startJsonService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-bench-process-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Announces the V8 flags and the arguments it was started with, then stays up until stopped.
  const script = join(dir, 'service.mjs');
  writeFileSync(
    script,
    'console.log(JSON.stringify({ execArgv: process.execArgv, argv: process.argv.slice(2) }));\nsetInterval(() => {}, 1000);\n',
  );

  it('starts the script under the Node flags it is given (the bare proxy gets the gateway’s)', async () => {
    const service = await startJsonService<{ execArgv: string[]; argv: string[] }>(script, ['--upstream', 'x'], {
      name: 'flags',
      nodeFlags: ['--max-semi-space-size=32', '--no-memory-reducer'],
    });
    try {
      expect(service.info).toEqual({ execArgv: ['--max-semi-space-size=32', '--no-memory-reducer'], argv: ['--upstream', 'x'] });
    } finally {
      await service.stop();
    }
  });

  it('and under none when given none', async () => {
    const service = await startJsonService<{ execArgv: string[] }>(script, [], { name: 'plain' });
    try {
      expect(service.info.execArgv).toEqual([]);
    } finally {
      await service.stop();
    }
  });
});
