/**
 * A reader for the repository's Dockerfile and .dockerignore — enough of their syntax to check the
 * image without a Docker engine (see assemble.ts): stages, their instructions, build arguments,
 * and which context paths the build may see.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, COPY, RUN, … */
  readonly op: string;
  /** The rest of the instruction, continuation lines joined. */
  readonly args: string;
  /** Line of the instruction's first line (1-based). */
  readonly line: number;
}

export interface Stage {
  /** `AS name`, else the stage's index. */
  readonly name: string;
  /** The base image, build arguments substituted. */
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** Build arguments declared before the first FROM, with their defaults. */
  readonly args: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

function substitute(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? '') ?? whole);
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i] ?? '';
    if (first.trim() === '' || first.trimStart().startsWith('#')) continue;
    const start = i;
    let joined = first.trimEnd();
    let continued = joined.endsWith('\\');
    while (continued && i + 1 < lines.length) {
      if (joined.endsWith('\\')) joined = joined.slice(0, -1).trimEnd();
      i++;
      const next = (lines[i] ?? '').trim();
      if (next.startsWith('#')) continue; // comments inside continuations are dropped
      joined += ` ${next}`;
      continued = next.endsWith('\\');
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(joined);
    if (!m?.[1]) throw new Error(`Dockerfile line ${start + 1}: cannot read ${JSON.stringify(first)}`);
    instructions.push({ op: m[1].toUpperCase(), args: (m[2] ?? '').trim(), line: start + 1 });
  }
  const args = new Map<string, string>();
  const stages: { name: string; from: string; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [name, value] = ins.args.split('=', 2);
      if (name) args.set(name.trim(), (value ?? '').trim());
      continue;
    }
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m?.[1]) throw new Error(`Dockerfile line ${ins.line}: FROM ${ins.args}`);
      stages.push({ name: m[2] ?? String(stages.length), from: substitute(m[1], args), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile line ${ins.line}: ${ins.op} before the first FROM`);
    stage.instructions.push(ins);
  }
  return { args, stages };
}

export function stageNamed(file: Dockerfile, name: string): Stage {
  const stage = file.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`the Dockerfile has no stage ${name}`);
  return stage;
}

export interface CopyInstruction {
  /** `--from=<stage>`, if any. */
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly dest: string;
}

export function parseCopy(ins: Instruction): CopyInstruction {
  const words = ins.args.split(/\s+/).filter(Boolean);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    const flag = /^--(\w+)=(.*)$/.exec(w);
    if (flag) {
      if (flag[1] === 'from') from = flag[2];
      else throw new Error(`Dockerfile line ${ins.line}: COPY --${flag[1]} is not understood by the check`);
    } else rest.push(w);
  }
  const dest = rest.pop();
  if (dest === undefined || rest.length === 0) throw new Error(`Dockerfile line ${ins.line}: COPY needs sources and a destination`);
  return { from, sources: rest, dest };
}

/** A .dockerignore: whether a context path (relative, `/`-separated) is left out of the build context. */
export function dockerignore(text: string): (relPath: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (relPath: string) => {
    const parts = relPath.replace(/^\.?\/+|\/+$/g, '').split('/');
    // A path is left out when it, or a folder above it, is: the last matching rule decides.
    let excluded = false;
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      for (const rule of rules) if (rule.re.test(prefix)) excluded = !rule.negate;
    }
    return excluded;
  };
}
