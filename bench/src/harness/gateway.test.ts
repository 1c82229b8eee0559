import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayNodeFlags } from './gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'jarvis-shebang-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function flagsOf(firstLine: string): string[] {
  const file = join(dir, 'main.js');
  writeFileSync(file, `${firstLine}\nconsole.log('x');\n`);
  return gatewayNodeFlags(file);
}

describe('gatewayNodeFlags', () => {
  it("reads the Node flags of the gateway's shebang", () => {
    expect(flagsOf('#!/usr/bin/env -S node --no-memory-reducer')).toEqual(['--no-memory-reducer']);
    expect(flagsOf('#!/usr/bin/env -S node --no-memory-reducer --max-semi-space-size=32')).toEqual([
      '--no-memory-reducer',
      '--max-semi-space-size=32',
    ]);
  });

  it('gives none for a plain shebang, none at all, or anything it does not understand', () => {
    expect(flagsOf('#!/usr/bin/env node')).toEqual([]);
    expect(flagsOf('/** no shebang */')).toEqual([]);
    expect(flagsOf('#!/usr/bin/env -S node; rm -rf /')).toEqual([]);
  });
});
