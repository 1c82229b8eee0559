/**
 * The npm and npx commands our documentation tells people to type, checked against what exists:
 * every `npm run X` / `npm test` names a script of the root package.json (or of the workspace it
 * names), and nothing may fetch a package from the registry — `npx NAME` or `npm exec NAME` would
 * download someone else's package when NAME is not (yet) linked in node_modules/.bin, so they are
 * allowed only with `--no` and for one of our workspace binaries. `npm ci` and a bare
 * `npm install` install what package-lock.json pins.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface DocCommand {
  /** Repository-relative file. */
  readonly file: string;
  /** 1-based line of the command. */
  readonly line: number;
  /** The command's words (quotes removed), starting with `npm` or `npx`. */
  readonly words: readonly string[];
}

export interface RepoPackages {
  /** Scripts of the root package.json. */
  readonly scripts: ReadonlySet<string>;
  /** Workspace name or folder → its scripts. */
  readonly workspaceScripts: ReadonlyMap<string, ReadonlySet<string>>;
  /** The workspaces' `bin` names. */
  readonly bins: ReadonlySet<string>;
}

/** Shell-ish words of one simple command: quotes removed, `$(…)` kept as one word. */
function words(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let has = false;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** Drops a `#` comment that is outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) return line.slice(0, i);
  }
  return line;
}

/** The simple commands of a shell line: split at `&&`, `||`, `;`, `|`, and the insides of `$(…)`. */
export function simpleCommands(line: string): string[][] {
  const inner: string[] = [];
  const outer = line.replace(/\$\(([^()]*)\)/g, (_m, body: string) => {
    inner.push(body);
    return 'SUBSHELL';
  });
  return [outer, ...inner]
    .flatMap((part) => part.split(/&&|\|\||;|\|/))
    .map((c) => words(c))
    .map((w) => {
      let i = 0;
      while (i < w.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[i] ?? '')) i++; // VAR=value prefixes
      return w.slice(i);
    })
    .filter((w) => w.length > 0);
}

const SHELL_LANGS = new Set(['', 'sh', 'bash', 'shell', 'console', 'zsh']);

/** npm/npx commands in the fenced shell blocks of a Markdown text, and in its inline code spans. */
export function markdownCommands(file: string, text: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = text.split('\n');
  let fence: { lang: string; marker: string } | undefined;
  let pending = '';
  let pendingLine = 0;
  const take = (command: string, line: number) => {
    for (const w of simpleCommands(stripComment(command))) if (w[0] === 'npm' || w[0] === 'npx') out.push({ file, line, words: w });
  };
  lines.forEach((raw, index) => {
    const fenceMatch = /^\s*(```+|~~~+)\s*([\w-]*)/.exec(raw);
    if (fenceMatch && (!fence || raw.trim().startsWith(fence.marker))) {
      if (fence) fence = undefined;
      else fence = { lang: (fenceMatch[2] ?? '').toLowerCase(), marker: fenceMatch[1] ?? '```' };
      return;
    }
    if (fence) {
      if (!SHELL_LANGS.has(fence.lang)) return;
      const line = raw.replace(/^\s*\$\s+/, ''); // a `$ ` prompt
      if (pending === '') pendingLine = index + 1;
      if (/\\\s*$/.test(line)) {
        pending += line.replace(/\\\s*$/, ' ');
        return;
      }
      take(pending + line, pendingLine);
      pending = '';
      return;
    }
    for (const m of raw.matchAll(/`(np[mx] [^`]+)`/g)) take(m[1] ?? '', index + 1);
  });
  return out;
}

/** Reads the root package.json and the workspaces' package.json files. */
export function repoPackages(root: string): RepoPackages {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; workspaces?: string[] };
  const workspaceScripts = new Map<string, ReadonlySet<string>>();
  const bins = new Set<string>();
  for (const ws of pkg.workspaces ?? []) {
    const file = join(root, ws, 'package.json');
    if (!existsSync(file)) continue;
    const w = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; scripts?: Record<string, string>; bin?: Record<string, string> };
    const scripts = new Set(Object.keys(w.scripts ?? {}));
    workspaceScripts.set(ws, scripts);
    if (w.name) workspaceScripts.set(w.name, scripts);
    for (const b of Object.keys(w.bin ?? {})) bins.add(b);
  }
  return { scripts: new Set(Object.keys(pkg.scripts ?? {})), workspaceScripts, bins };
}

/** npm's flags that take a value (the ones a doc might put before a script name). */
const NPM_VALUE_FLAGS = new Set(['-w', '--workspace', '--prefix', '-C', '--loglevel']);
const NPM_LIFECYCLE = new Set(['test', 't', 'tst', 'start', 'stop', 'restart']);

/** Why a command is wrong, or undefined when it names what exists and fetches nothing. */
export function checkCommand(words: readonly string[], repo: RepoPackages): string | undefined {
  const [tool, ...rest] = words;
  const flags: string[] = [];
  const positional: string[] = [];
  let workspace: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i] as string;
    if (w === '--') {
      positional.push(...rest.slice(i + 1)); // after --: the binary (npm exec) or the script's own arguments
      break;
    }
    if (w.startsWith('-')) {
      const [flag, inline] = w.split('=', 2) as [string, string | undefined];
      flags.push(flag);
      if (NPM_VALUE_FLAGS.has(flag) && inline === undefined) {
        const value = rest[++i];
        if (flag === '-w' || flag === '--workspace') workspace = value;
      } else if ((flag === '-w' || flag === '--workspace') && inline !== undefined) workspace = inline;
      continue;
    }
    positional.push(w);
  }
  const noFetch = flags.includes('--no') || flags.includes('--no-install') || rest.includes('--yes=false');
  const runnable = (name: string | undefined): string | undefined => {
    if (name === undefined) return 'names no binary';
    if (!repo.bins.has(name)) return `${name} is not one of our workspace binaries (${[...repo.bins].sort().join(', ')})`;
    if (!noFetch) return `would fetch ${name} from the registry when it is not linked yet: use an npm run script (or --no)`;
    return undefined;
  };
  if (tool === 'npx') return runnable(positional[0]);
  const [sub, name] = positional;
  if (sub === undefined) return 'npm without a command';
  const scripts = workspace !== undefined ? repo.workspaceScripts.get(workspace) : repo.scripts;
  if (scripts === undefined) return `no workspace ${workspace ?? ''}`;
  if (sub === 'run' || sub === 'run-script' || sub === 'rum' || sub === 'urn') {
    if (name === undefined) return 'npm run without a script name';
    return scripts.has(name) ? undefined : `no npm script "${name}"${workspace ? ` in workspace ${workspace}` : ''}`;
  }
  if (NPM_LIFECYCLE.has(sub)) {
    const script = sub === 't' || sub === 'tst' ? 'test' : sub;
    return scripts.has(script) ? undefined : `no npm script "${script}"`;
  }
  if (sub === 'ci') return undefined;
  if (sub === 'install' || sub === 'i') {
    return positional.length > 1 ? `npm ${sub} ${positional.slice(1).join(' ')} installs a package the lockfile does not pin` : undefined;
  }
  if (sub === 'exec' || sub === 'x') {
    // npm 11 ignores --no-install for npm exec (it is an npx flag): only --no keeps it off the registry.
    if (flags.includes('--no-install') && !flags.includes('--no')) return 'npm exec ignores --no-install: use --no (or an npm run script)';
    return runnable(name);
  }
  return `npm ${sub}: not a command our docs should need`;
}

/** README.md, docs/*.md and each workspace's README.md. */
export function documentationFiles(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces?: string[] };
  const files = [join(root, 'README.md')];
  const docs = join(root, 'docs');
  if (existsSync(docs)) for (const f of readdirSync(docs).sort()) if (f.endsWith('.md')) files.push(join(docs, f));
  for (const ws of pkg.workspaces ?? []) {
    const readme = join(root, ws, 'README.md');
    if (existsSync(readme)) files.push(readme);
  }
  return files;
}

/** Every problem of every npm/npx command in the documentation, as `file:line: command: why`. */
export function documentationProblems(root: string): { commands: DocCommand[]; problems: string[] } {
  const repo = repoPackages(root);
  const commands = documentationFiles(root).flatMap((f) => markdownCommands(relative(root, f), readFileSync(f, 'utf8')));
  const problems: string[] = [];
  for (const c of commands) {
    const why = checkCommand(c.words, repo);
    if (why) problems.push(`${c.file}:${c.line}: ${c.words.join(' ')}: ${why}`);
  }
  return { commands, problems };
}
