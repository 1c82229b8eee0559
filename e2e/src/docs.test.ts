import { describe, expect, it } from 'vitest';
import { checkCommand, documentationProblems, markdownCommands, simpleCommands, type RepoPackages } from './docs.js';
import { repoRoot } from './paths.js';

const repo: RepoPackages = {
  scripts: new Set(['build', 'test', 'demo', 'envtest:up', 'jarvis-policy']),
  workspaceScripts: new Map([['bench', new Set(['quick'])]]),
  bins: new Set(['jarvis-policy', 'jarvis-gateway']),
};
const check = (line: string) =>
  simpleCommands(line)
    .filter((w) => w[0] === 'npm' || w[0] === 'npx')
    .map((w) => checkCommand(w, repo));

describe('checkCommand', () => {
  it('accepts scripts that exist, lifecycle scripts, npm ci and a bare npm install', () => {
    expect(check('npm run build')).toEqual([undefined]);
    expect(check('npm run -s jarvis-policy -- validate examples/')).toEqual([undefined]);
    expect(check('npm test -- --project unit')).toEqual([undefined]);
    expect(check('npm ci --no-audit && npm install')).toEqual([undefined, undefined]);
    expect(check('npm run -w bench quick')).toEqual([undefined]);
    expect(simpleCommands('export KUBECONFIG=$(npm run -s envtest:up | tail -1)')).toEqual([
      ['export', 'KUBECONFIG=SUBSHELL'],
      ['npm', 'run', '-s', 'envtest:up'],
      ['tail', '-1'],
    ]);
    expect(check('export KUBECONFIG=$(npm run -s envtest:up | tail -1)')).toEqual([undefined]);
    expect(check('REDIS_URL=redis://127.0.0.1:6379 npm run demo')).toEqual([undefined]);
  });

  it('refuses scripts that do not exist', () => {
    expect(check('npm run lint')).toEqual(['no npm script "lint"']);
    expect(check('npm start')).toEqual(['no npm script "start"']);
    expect(check('npm run -w bench slow')[0]).toContain('no npm script "slow" in workspace bench');
  });

  it('refuses npx and npm exec that could fetch a package from the registry', () => {
    expect(check('npx jarvis-policy validate examples/')[0]).toContain('would fetch jarvis-policy from the registry');
    expect(check('npx some-tool')[0]).toContain('is not one of our workspace binaries');
    expect(check('npm exec -- jarvis-gateway --help')[0]).toContain('would fetch');
    expect(check('npm exec --no-install -- jarvis-gateway --help')[0]).toContain('ignores --no-install');
    expect(check('npx --no jarvis-policy validate x')).toEqual([undefined]);
    expect(check('npm exec --no -- jarvis-gateway --help')).toEqual([undefined]);
    expect(check('npm install left-pad')[0]).toContain('installs a package the lockfile does not pin');
  });
});

describe('markdownCommands', () => {
  it('reads fenced shell blocks (with continuations and comments) and inline code, skips other languages', () => {
    const md = [
      'Run `npm run demo -- --duration 20` to see it.',
      '```sh',
      'npm run build   # compile',
      'npx jarvis-gateway --xds 127.0.0.1:18000 \\',
      '  --gateway ns/gw',
      '$ npm test',
      '```',
      '```yaml',
      'command: npx something',
      '```',
    ].join('\n');
    expect(markdownCommands('README.md', md).map((c) => [c.line, c.words.join(' ')])).toEqual([
      [1, 'npm run demo -- --duration 20'],
      [3, 'npm run build'],
      [4, 'npx jarvis-gateway --xds 127.0.0.1:18000 --gateway ns/gw'],
      [6, 'npm test'],
    ]);
  });
});

describe('the documentation', () => {
  it('names only npm scripts that exist and our own binaries, and fetches nothing from the registry', () => {
    const { commands, problems } = documentationProblems(repoRoot);
    expect(commands.length).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });
});
