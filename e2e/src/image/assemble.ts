/**
 * The image's runtime stage laid out in a folder, instruction by instruction, without a Docker
 * engine: WORKDIR, ENV, COPY (from the build context, or `--from=build`, whose output is the
 * repository's own build — the build stage runs the same `tsc -b`), RUN (only the commands this
 * check knows: npm ci, chmod, ln -s; npm ci runs for real, offline from npm's cache when it can)
 * and USER. Every COPY source of every stage must exist and not be left out by .dockerignore.
 * The folder then stands for the image's root filesystem: binaries run from it as the USER.
 */
import { cp, mkdir, readFile, stat, symlink, chmod } from 'node:fs/promises';
import path from 'node:path';

import { run } from '../util/exec.js';
import { type Dockerfile, dockerignore, type Instruction, parseCopy, parseDockerfile, type Stage, stageNamed } from './dockerfile.js';

export interface AssembledImage {
  /** Stands for the image's `/`. */
  readonly root: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  /** USER as numbers (the check refuses names and root). */
  readonly user: { readonly uid: number; readonly gid: number };
  readonly cmd: string | undefined;
  /** The instructions the check carried out, for the report. */
  readonly log: readonly string[];
}

export interface AssembleOptions {
  /** The build context (the repository root). */
  readonly context: string;
  readonly out: string;
  /** The stage to lay out (default: the last). */
  readonly stage?: string;
}

/** Where a path inside the image lands in `root`. */
function inRoot(root: string, cwd: string, p: string): string {
  return path.join(root, path.posix.resolve(cwd, p));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Checks every COPY from the context of a stage: the source exists and the context holds it. */
async function checkContextSources(stage: Stage, context: string, ignored: (p: string) => boolean): Promise<void> {
  for (const ins of stage.instructions) {
    if (ins.op !== 'COPY') continue;
    const copy = parseCopy(ins);
    if (copy.from !== undefined) continue;
    for (const source of copy.sources) {
      const rel = path.posix.normalize(source).replace(/\/$/, '');
      if (!(await exists(path.join(context, rel)))) throw new Error(`Dockerfile line ${ins.line}: ${source} is not in the build context`);
      if (ignored(rel)) throw new Error(`Dockerfile line ${ins.line}: .dockerignore leaves ${source} out of the build context`);
    }
  }
}

/** One `&&` segment of a RUN, as the check carries it out. */
async function runSegment(segment: string, root: string, cwd: string, ins: Instruction, log: string[]): Promise<void> {
  const words = segment.split(/\s+/).filter(Boolean);
  const [cmd, ...rest] = words;
  const here = path.join(root, cwd);
  if (cmd === 'npm' && rest[0] === 'ci') {
    await run('npm', [...rest, '--prefer-offline'], { cwd: here, timeoutMs: 10 * 60_000 });
    log.push(`RUN ${segment} (offline first)`);
  } else if (cmd === 'npm' && rest[0] === 'cache' && rest[1] === 'clean') {
    log.push(`skipped RUN ${segment} (image size only)`);
  } else if (cmd === 'chmod' && rest.length >= 2 && /^[0-7]{3,4}$/.test(rest[0] ?? '')) {
    for (const file of rest.slice(1)) await chmod(inRoot(root, cwd, file), Number.parseInt(rest[0] ?? '', 8));
    log.push(`RUN ${segment}`);
  } else if (cmd === 'ln' && rest[0] === '-s' && rest.length === 3) {
    const [, target = '', link = ''] = rest;
    if (!target.startsWith('/'))
      throw new Error(`Dockerfile line ${ins.line}: ln -s with a relative target is not understood by the check`);
    const at = inRoot(root, cwd, link);
    await mkdir(path.dirname(at), { recursive: true });
    await symlink(path.join(root, target), at);
    log.push(`RUN ${segment}`);
  } else {
    throw new Error(`Dockerfile line ${ins.line}: the check does not know how to run ${JSON.stringify(segment)}`);
  }
}

async function copyInto(sourcePath: string, dest: string, multiple: boolean): Promise<void> {
  const isDir = (await stat(sourcePath)).isDirectory();
  // A directory's contents go into dest; a file into dest/ (trailing slash, or several sources)
  // or onto dest.
  const target = !isDir && (dest.endsWith('/') || multiple) ? path.join(dest, path.basename(sourcePath)) : dest;
  await mkdir(isDir ? target : path.dirname(target), { recursive: true });
  await cp(sourcePath, target, { recursive: true, dereference: false });
}

export async function assembleImage(opts: AssembleOptions, dockerfileText?: string): Promise<AssembledImage> {
  const file: Dockerfile = parseDockerfile(dockerfileText ?? (await readFile(path.join(opts.context, 'Dockerfile'), 'utf8')));
  const ignoreText = await readFile(path.join(opts.context, '.dockerignore'), 'utf8').catch(() => '');
  const ignored = dockerignore(ignoreText);
  for (const stage of file.stages) await checkContextSources(stage, opts.context, ignored);

  const target = opts.stage ? stageNamed(file, opts.stage) : file.stages.at(-1);
  if (!target) throw new Error('the Dockerfile has no stage');
  const root = opts.out;
  await mkdir(root, { recursive: true });
  const log: string[] = [];
  const env: Record<string, string> = {};
  let cwd = '/';
  let user: { uid: number; gid: number } | undefined;
  let cmd: string | undefined;

  /** A stage's `WORKDIR` when it copied the context in: there its files are the context's, built. */
  const stageWorkdir = (name: string): string => {
    const stage = stageNamed(file, name);
    const workdir = stage.instructions.find((i) => i.op === 'WORKDIR')?.args;
    if (!workdir) throw new Error(`stage ${name} has no WORKDIR: the check cannot map its files`);
    return workdir;
  };

  for (const ins of target.instructions) {
    switch (ins.op) {
      case 'WORKDIR':
        cwd = path.posix.resolve(cwd, ins.args);
        await mkdir(path.join(root, cwd), { recursive: true });
        log.push(`WORKDIR ${cwd}`);
        break;
      case 'ENV': {
        const m = /^(\w+)=(\S*)$/.exec(ins.args);
        if (!m?.[1]) throw new Error(`Dockerfile line ${ins.line}: ENV ${ins.args} is not understood by the check`);
        env[m[1]] = m[2] ?? '';
        break;
      }
      case 'COPY': {
        const copy = parseCopy(ins);
        const dest = inRoot(root, cwd, copy.dest) + (copy.dest.endsWith('/') ? '/' : '');
        for (const source of copy.sources) {
          let from: string;
          if (copy.from === undefined) from = path.join(opts.context, source);
          else {
            const workdir = stageWorkdir(copy.from);
            const rel = path.posix.relative(workdir, source);
            if (rel.startsWith('..')) throw new Error(`Dockerfile line ${ins.line}: ${source} is outside stage ${copy.from}'s ${workdir}`);
            from = path.join(opts.context, rel);
          }
          if (!(await exists(from))) throw new Error(`Dockerfile line ${ins.line}: ${source} does not exist (is the repository built?)`);
          await copyInto(from, dest, copy.sources.length > 1);
        }
        log.push(`COPY ${ins.args}`);
        break;
      }
      case 'RUN':
        for (const segment of ins.args.split('&&').map((s) => s.trim())) await runSegment(segment, root, cwd, ins, log);
        break;
      case 'USER': {
        const m = /^(\d+)(?::(\d+))?$/.exec(ins.args);
        if (!m) throw new Error(`Dockerfile line ${ins.line}: USER ${ins.args}: numeric ids only (Kubernetes checks runAsNonRoot on them)`);
        user = { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
        if (user.uid === 0) throw new Error(`Dockerfile line ${ins.line}: USER is root`);
        break;
      }
      case 'CMD':
        cmd = ins.args;
        break;
      case 'EXPOSE':
      case 'ENTRYPOINT':
      case 'LABEL':
      case 'ARG':
        break;
      default:
        throw new Error(`Dockerfile line ${ins.line}: ${ins.op} is not understood by the check`);
    }
  }
  if (!user) throw new Error('the image has no USER: it would run as root');
  return { root, workdir: cwd, env, user, cmd, log };
}
