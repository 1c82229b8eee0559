/**
 * YAML at the edge, bounded. Manifests come from pull requests and config folders, so a file must
 * not be able to make its reader loop, recurse or allocate without bound:
 *
 * - size: at most `maxBytes` characters of text (checked before parsing);
 * - nesting: at most `maxDepth` levels, both as written (js-yaml's own `maxDepth`, checked while
 *   parsing) and once aliases are expanded;
 * - aliases: js-yaml gives an alias the very object of its anchor, so a 1 KB "billion laughs"
 *   parses quickly into a small graph that only explodes when something walks it as a tree
 *   (JSON.stringify, validation, translation). Before anything walks it, the expanded size of
 *   every document is counted over the graph (each shared node once, with memoised subtree sizes,
 *   so the count itself is linear in what was parsed): one unit per node plus the length of each
 *   string and mapping key, which for YAML without aliases never exceeds the text's length. A file
 *   whose documents expand to more than its length plus `maxAliasExpansion` units is refused, and
 *   so is an alias to a node that contains it (a cycle: an infinite tree).
 *
 * What passes is returned as plain trees (aliases expanded into copies), like JSON from the
 * apiserver, so later stages never see shared or cyclic objects.
 */
import yaml from 'js-yaml';

export interface YamlLimits {
  /** Longest text accepted, in UTF-16 code units. */
  readonly maxBytes: number;
  /** Deepest nesting of collections, as written and after alias expansion. */
  readonly maxDepth: number;
  /** How many size units aliases may add beyond the text's own length. */
  readonly maxAliasExpansion: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = {
  maxBytes: 16 * 1024 * 1024,
  maxDepth: 100,
  maxAliasExpansion: 1_000_000,
};

/** A file that is not YAML, or that exceeds a bound; the message names neither file nor path (the caller does). */
export class YamlError extends Error {}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype);
}

interface Measure {
  /** Expanded size units of the subtree, saturated at `cap + 1`. */
  readonly size: number;
  /** Expanded depth of the subtree (1 for a collection of scalars), saturated at `maxDepth + 1`. */
  readonly depth: number;
}

/** A string counts its length; binary (`!!binary`) its bytes; anything else (numbers, dates) one unit. */
const scalarSize = (v: unknown): number => 1 + (typeof v === 'string' ? v.length : ArrayBuffer.isView(v) ? v.byteLength : 0);

/**
 * Size and depth of `root` expanded as a tree, without expanding it: an explicit stack (no
 * recursion), each distinct collection measured once. Throws YamlError on a cycle.
 */
function measure(root: unknown, cap: number, maxDepth: number): Measure {
  if (!isContainer(root)) return { size: scalarSize(root), depth: 0 };
  const done = new Map<Container, Measure>();
  const open = new Set<Container>();
  const stack: Container[] = [root];
  while (stack.length > 0) {
    const node = stack[stack.length - 1]!;
    if (done.has(node)) {
      stack.pop();
      continue;
    }
    if (!open.has(node)) {
      open.add(node);
      for (const child of Object.values(node)) {
        if (!isContainer(child) || done.has(child)) continue;
        if (open.has(child)) throw new YamlError('an alias refers to a node that contains it (a cycle)');
        stack.push(child);
      }
      continue;
    }
    // Every child collection is measured: sum them up.
    let size = 1;
    let depth = 1;
    const keyed = !Array.isArray(node);
    for (const [key, child] of Object.entries(node)) {
      if (keyed) size += key.length;
      if (isContainer(child)) {
        const m = done.get(child)!;
        size += m.size;
        depth = Math.max(depth, m.depth + 1);
      } else size += scalarSize(child);
      if (size > cap) size = cap + 1;
    }
    open.delete(node);
    done.set(node, { size, depth: Math.min(depth, maxDepth + 1) });
    stack.pop();
  }
  return done.get(root)!;
}

/** A plain copy of a measured (acyclic, bounded) value with every alias expanded. */
function expand(value: unknown): unknown {
  if (!isContainer(value)) return value;
  if (Array.isArray(value)) return value.map(expand);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // A key named __proto__ stays a key (as js-yaml keeps it), never becomes the prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: expand(v), enumerable: true, writable: true, configurable: true });
    else out[k] = expand(v);
  }
  return out;
}

/** The non-empty documents of `text` (empty ones, `---` with nothing, are left out). */
export function loadYamlDocuments(text: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): unknown[] {
  if (text.length > limits.maxBytes) throw new YamlError(`larger than ${limits.maxBytes} bytes`);
  let docs: unknown[];
  try {
    // maxDepth exists in js-yaml ≥ 4.2 (the pinned version) but not in @types/js-yaml 4.0.9.
    const options: yaml.LoadOptions & { maxDepth: number } = { maxDepth: limits.maxDepth };
    docs = yaml.loadAll(text, undefined, options);
  } catch (err) {
    if (err instanceof yaml.YAMLException) throw new YamlError(`not valid YAML: ${err.message.split('\n')[0] ?? err.message}`);
    throw err;
  }
  const cap = text.length + limits.maxAliasExpansion;
  let total = 0;
  for (const doc of docs) {
    const m = measure(doc, cap, limits.maxDepth);
    total += m.size;
    if (total > cap)
      throw new YamlError(
        `aliases expand the documents beyond the file's length plus ${limits.maxAliasExpansion} nodes and characters (an alias bomb?)`,
      );
    if (m.depth > limits.maxDepth) throw new YamlError(`nesting exceeds ${limits.maxDepth} levels once aliases are expanded`);
  }
  return docs.filter((d) => d !== null && d !== undefined).map(expand);
}
