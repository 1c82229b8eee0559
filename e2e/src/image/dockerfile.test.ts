import { describe, expect, it } from 'vitest';

import { dockerignore, parseCopy, parseDockerfile, stageNamed } from './dockerfile.js';

describe('parseDockerfile', () => {
  const file = parseDockerfile(`# syntax=docker/dockerfile:1
ARG BASE=node:20-slim
FROM \${BASE} AS build
WORKDIR /src
RUN npm ci \\
  # a comment inside
  --omit=dev
FROM $BASE AS runtime
COPY --from=build /src/a a/
USER 10001:10001
`);

  it('reads stages, build arguments and continuation lines', () => {
    expect(file.args.get('BASE')).toBe('node:20-slim');
    expect(file.stages.map((s) => [s.name, s.from])).toEqual([
      ['build', 'node:20-slim'],
      ['runtime', 'node:20-slim'],
    ]);
    expect(stageNamed(file, 'build').instructions).toEqual([
      { op: 'WORKDIR', args: '/src', line: 4 },
      { op: 'RUN', args: 'npm ci --omit=dev', line: 5 },
    ]);
  });

  it('reads COPY with --from, and refuses flags it does not understand', () => {
    const copy = stageNamed(file, 'runtime').instructions[0];
    expect(copy && parseCopy(copy)).toEqual({ from: 'build', sources: ['/src/a'], dest: 'a/' });
    expect(() => parseCopy({ op: 'COPY', args: '--chown=1:1 a b', line: 1 })).toThrow('--chown');
  });
});

describe('dockerignore', () => {
  const ignored = dockerignore(`**/node_modules
**/*.test.ts
bench/*
!bench/package.json
.git
`);
  it.each([
    ['node_modules', true],
    ['api/node_modules/x/index.js', true],
    ['api/src/a.test.ts', true],
    ['api/src/a.ts', false],
    ['bench/src/x.ts', true],
    ['bench/package.json', false],
    ['.git/config', true],
    ['package.json', false],
  ])('%s → %s', (path, expected) => expect(ignored(path)).toBe(expected));
});
