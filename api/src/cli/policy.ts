#!/usr/bin/env node
/**
 * jarvis-policy: offline checks of policy manifests for GitOps pipelines.
 *
 *   jarvis-policy validate [-R] [--strict] [-n NS] PATH...
 *   jarvis-policy render   [-R] [--strict] [-n NS] [-o yaml|json] PATH...
 *
 * PATHs are files or directories (*.yaml, *.yml, *.json; not recursive unless -R, like
 * `kubectl apply -f`). Policies of stability.jarvis.io are validated like the apiserver would
 * (schema, defaults, CEL); then every object is translated together, as the operator would.
 * Invalid and Conflicted policies, YAML that does not parse (or exceeds the bounds of yaml/load.ts),
 * objects that cannot be read and HTTPRoutes that cannot be programmed (a pattern RE2 does not
 * compile, an unsupported filter) are errors; missing targets and other route problems are warnings
 * unless --strict (in GitOps the routes may live in another repository). Exit codes: 0 no errors, 1 errors, 2 usage or unreadable path.
 */
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { DEFAULT_YAML_LIMITS, YamlError, loadYamlDocuments } from '../yaml/load.js';
import { formatFieldError } from '../validate/errors.js';
import { isPolicyManifest, validateManifest } from '../validate/manifest.js';
import { isObject } from '../validate/schema-node.js';
import { KINDS, NOT_ENFORCED } from '../schema/kinds.js';
import { unsupported } from '../translate/attach.js';
import { CONTROLLER_NAME } from '../translate/constants.js';
import { GATEWAY_API_GROUP, parseHTTPRoute } from '../translate/parse/httproute.js';
import { ParseFailure } from '../translate/parse/reader.js';
import { translate } from '../translate/translate.js';
import type { TranslateResult } from '../translate/result.js';

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const USAGE = `usage: jarvis-policy validate [-R] [--strict] [-n NAMESPACE] PATH...
       jarvis-policy render [-R] [--strict] [-n NAMESPACE] [-o yaml|json] PATH...

  -R, --recursive        read directories recursively
      --strict           missing targets, route problems and Secrets a ClientIdentityPolicy cannot
                         use are errors, not warnings
  -n, --namespace NS     namespace of objects without one (default: default)
  -o, --output FORMAT    render output: yaml (default) or json
      --controller-name  GatewayClass controllerName (default: ${CONTROLLER_NAME})

All six policy kinds are validated and rendered. What the gateway enforces:
${KINDS.map((k) => `  ${k.kind}: ${k.enforced ? 'enforced by the gateway.' : NOT_ENFORCED}`).join('\n')}
`;

interface Options {
  readonly command: 'validate' | 'render';
  readonly paths: readonly string[];
  readonly recursive: boolean;
  readonly strict: boolean;
  readonly namespace: string;
  readonly output: 'yaml' | 'json';
  readonly controllerName: string;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options | 'help' {
  const [command, ...rest] = argv;
  if (command === '-h' || command === '--help' || command === 'help') return 'help';
  if (command !== 'validate' && command !== 'render') throw new UsageError(command ? `unknown command ${command}` : 'missing command');
  const paths: string[] = [];
  let recursive = false;
  let strict = false;
  let namespace = 'default';
  let output: 'yaml' | 'json' = 'yaml';
  let controllerName = CONTROLLER_NAME;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? rest[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '-h' || flag === '--help') return 'help';
    else if (flag === '-R' || flag === '--recursive') recursive = true;
    else if (flag === '--strict') strict = true;
    else if (flag === '-n' || flag === '--namespace') namespace = value();
    else if (flag === '--controller-name') controllerName = value();
    else if (flag === '-o' || flag === '--output') {
      const v = value();
      if (v !== 'yaml' && v !== 'json') throw new UsageError(`unknown output format ${v} (yaml or json)`);
      output = v;
    } else if (flag.startsWith('-') && flag !== '-') throw new UsageError(`unknown flag ${flag}`);
    else paths.push(arg);
  }
  if (paths.length === 0) throw new UsageError('no PATH given');
  return { command, paths, recursive, strict, namespace, output, controllerName };
}

const MANIFEST = /\.(ya?ml|json)$/;

interface Collected {
  readonly files: string[];
  /** Entries of the directories that are not regular files (FIFOs, sockets, devices): never opened. */
  readonly skipped: string[];
}

/**
 * Files under the paths, in a stable order; throws on a path that cannot be read. Only regular
 * files (or symlinks to them) are read: opening a FIFO would wait for a writer forever.
 */
function collectFiles(paths: readonly string[], recursive: boolean): Collected {
  const files: string[] = [];
  const skipped: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(dir, entry.name);
      const stat = entry.isSymbolicLink() ? statSync(path, { throwIfNoEntry: false }) : entry;
      if (stat?.isDirectory()) {
        if (recursive) walk(path);
      } else if (MANIFEST.test(entry.name)) {
        if (stat?.isFile()) files.push(path);
        else skipped.push(path);
      }
    }
  };
  for (const path of paths) {
    const stat = statSync(path);
    if (stat.isDirectory()) walk(path);
    else if (stat.isFile()) files.push(path);
    else throw new Error(`${path}: not a regular file`);
  }
  return { files, skipped };
}

interface Doc {
  readonly file: string;
  readonly index: number;
  readonly object: unknown;
}

interface Report {
  errors: number;
  warnings: number;
  readonly lines: string[];
}

function add(report: Report, error: boolean, file: string, subject: string, path: string, message: string): void {
  if (error) report.errors++;
  else report.warnings++;
  report.lines.push(`${file}: ${subject}: ${path ? `${path}: ` : ''}${error ? '' : 'warning: '}${message}`);
}

function identity(obj: unknown, namespace: string): { kind: string; namespace: string; name: string } {
  const o = isObject(obj) ? obj : {};
  const meta = isObject(o.metadata) ? o.metadata : {};
  return {
    kind: typeof o.kind === 'string' ? o.kind : '?',
    namespace: typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : namespace,
    name: typeof meta.name === 'string' ? meta.name : '?',
  };
}

/** Documents of one file (bounded: see yaml/load.ts); `List` objects are expanded like kubectl does. */
function loadDocs(file: string, text: string, report: Report): Doc[] {
  let parsed: unknown[];
  try {
    parsed = loadYamlDocuments(text);
  } catch (err) {
    if (err instanceof YamlError) {
      add(report, true, file, 'YAML', '', err.message);
      return [];
    }
    throw err;
  }
  const docs: Doc[] = [];
  parsed.forEach((object, index) => {
    if (isObject(object) && typeof object.kind === 'string' && object.kind.endsWith('List') && Array.isArray(object.items))
      object.items.forEach((item) => docs.push({ file, index, object: item }));
    else docs.push({ file, index, object });
  });
  return docs;
}

interface Checked {
  readonly result: TranslateResult;
  readonly report: Report;
  /** Policy manifests read, valid or not. */
  readonly policies: number;
}

/** A file's text, or undefined (reported) when it is larger than a manifest file may be. */
function readManifest(file: string, report: Report): string | undefined {
  const size = statSync(file).size;
  if (size > DEFAULT_YAML_LIMITS.maxBytes) {
    add(report, true, file, 'YAML', '', `larger than ${DEFAULT_YAML_LIMITS.maxBytes} bytes (${size})`);
    return undefined;
  }
  return readFileSync(file, 'utf8');
}

function check(opts: Options, collected: Collected): Checked {
  const report: Report = { errors: 0, warnings: 0, lines: [] };
  for (const path of collected.skipped) add(report, false, path, 'file', '', 'not a regular file: skipped');
  const objects: unknown[] = [];
  const origin: string[] = [];
  const fileOf = new Map<string, string>();
  const keyOf = (kind: string, ns: string, name: string) => `${kind}\n${ns}\n${name}`;
  let policies = 0;

  for (const file of collected.files) {
    const text = readManifest(file, report);
    if (text === undefined) continue;
    for (const doc of loadDocs(file, text, report)) {
      const id = identity(doc.object, opts.namespace);
      const subject = `${id.kind} ${id.namespace}/${id.name}`;
      if (!isObject(doc.object) || typeof doc.object.apiVersion !== 'string' || typeof doc.object.kind !== 'string') {
        add(report, true, file, `document ${doc.index + 1}`, '', 'apiVersion and kind are required');
        continue;
      }
      if (!fileOf.has(keyOf(id.kind, id.namespace, id.name))) fileOf.set(keyOf(id.kind, id.namespace, id.name), file);
      else
        add(report, true, file, subject, 'metadata.name', `defined twice (also in ${fileOf.get(keyOf(id.kind, id.namespace, id.name))})`);
      if (isPolicyManifest(doc.object)) {
        policies++;
        const validated = validateManifest(doc.object, { defaultNamespace: opts.namespace });
        if (!validated.ok) {
          for (const e of validated.errors) add(report, true, file, subject, e.path, formatFieldError(e).slice(e.path.length + 2));
          continue;
        }
        objects.push(validated.policy);
      } else objects.push(doc.object);
      origin.push(file);
    }
  }

  const result = translate({ objects, defaultNamespace: opts.namespace }, { controllerName: opts.controllerName });
  const fileFor = (kind: string, ns: string, name: string) => fileOf.get(keyOf(kind, ns, name)) ?? '?';

  for (const p of result.problems)
    add(report, true, origin[p.index] ?? '?', `${p.kind ?? '?'} ${p.namespace ?? opts.namespace}/${p.name ?? '?'}`, p.path, p.message);
  for (const p of result.policies) {
    const { kind, namespace, name } = p.ref;
    const subject = `${kind} ${namespace}/${name}`;
    const error = p.accepted.reason === 'Invalid' || p.accepted.reason === 'Conflicted' || opts.strict;
    for (const f of p.findings) add(report, error, fileFor(kind, namespace, name), subject, f.path, f.message);
    // A Secret a ClientIdentityPolicy names may be managed elsewhere (like a missing target).
    if (p.resolvedRefs && !p.resolvedRefs.status)
      add(report, opts.strict, fileFor(kind, namespace, name), subject, '', `${p.resolvedRefs.reason}: ${p.resolvedRefs.message}`);
  }
  // A route that cannot be programmed (a pattern RE2 does not compile, say) is an error whichever
  // Gateway it names: the Gateway may live in another repository.
  const judged = new Set(result.routes.map((r) => `${r.route.namespace}/${r.route.name}`));
  objects.forEach((obj, i) => {
    if (
      !isObject(obj) ||
      obj.kind !== 'HTTPRoute' ||
      typeof obj.apiVersion !== 'string' ||
      !obj.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`)
    )
      return;
    let why: string | undefined;
    let id = '';
    try {
      const route = parseHTTPRoute(obj, opts.namespace);
      id = `${route.meta.namespace}/${route.meta.name}`;
      why = judged.has(id) ? undefined : unsupported(route);
    } catch (err) {
      if (err instanceof ParseFailure) return; // reported as a problem of the translation
      throw err;
    }
    if (why) {
      const at = why.indexOf(': ');
      add(report, true, origin[i] ?? '?', `HTTPRoute ${id}`, why.slice(0, at), `UnsupportedValue: ${why.slice(at + 2)}`);
    }
  });
  const seenRefs = new Set<string>();
  for (const r of result.routes) {
    const { namespace, name } = r.route;
    const file = fileFor('HTTPRoute', namespace, name);
    const subject = `HTTPRoute ${namespace}/${name}`;
    if (!r.accepted.status) {
      const parent = `${r.parentRef.namespace}/${r.parentRef.name}${r.parentRef.sectionName ? `/${r.parentRef.sectionName}` : ''}`;
      add(
        report,
        opts.strict || r.accepted.reason === 'UnsupportedValue',
        file,
        subject,
        'spec.parentRefs',
        `not accepted by Gateway ${parent} (${r.accepted.reason}): ${r.accepted.message}`,
      );
    }
    if (!r.resolvedRefs.status && !seenRefs.has(`${namespace}/${name}`)) {
      seenRefs.add(`${namespace}/${name}`);
      for (const part of r.resolvedRefs.message.split('; ')) {
        const at = part.indexOf(': ');
        add(
          report,
          opts.strict,
          file,
          subject,
          at > 0 ? part.slice(0, at) : '',
          `${r.resolvedRefs.reason}: ${at > 0 ? part.slice(at + 2) : part}`,
        );
      }
    }
  }
  return { result, report, policies };
}

export function main(argv: readonly string[], io: CliIO): number {
  let opts: Options | 'help';
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`jarvis-policy: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  let collected: Collected;
  try {
    collected = collectFiles(opts.paths, opts.recursive);
  } catch (err) {
    io.stderr(`jarvis-policy: ${(err as Error).message}\n`);
    return 2;
  }
  const files = collected.files;
  let checked: Checked;
  try {
    checked = check(opts, collected);
  } catch (err) {
    io.stderr(`jarvis-policy: ${(err as Error).message}\n`);
    return 2;
  }
  const { result, report, policies } = checked;
  const out = opts.command === 'validate' ? io.stdout : io.stderr;
  for (const line of report.lines) out(`${line}\n`);
  out(
    `${files.length} file${files.length === 1 ? '' : 's'}, ${policies} polic${policies === 1 ? 'y' : 'ies'}: ${report.errors} error${report.errors === 1 ? '' : 's'}, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}\n`,
  );
  if (report.errors > 0) return 1;
  if (opts.command === 'render')
    io.stdout(opts.output === 'json' ? `${JSON.stringify(result.ir, null, 2)}\n` : yaml.dump(result.ir, { noRefs: true, lineWidth: 120 }));
  return 0;
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
