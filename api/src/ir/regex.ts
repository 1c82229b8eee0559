/**
 * The regular expressions of the IR (HTTPRoute path, header and query matches): RE2 syntax, as
 * Envoy uses for Gateway API, matched against the whole value in time linear in its length. Route
 * authors are application teams, not the gateway's owner, so a pattern must never be able to stall
 * the event loop the way a backtracking engine can (`(a+)+$` against 30 characters took seconds
 * with RegExp).
 *
 * Engine: re2js (pinned 2.10.0), a pure-JavaScript port of RE2/J, MIT-licensed, no dependencies,
 * about 0.9 MB unpacked, `engines` node ≥ 20, released regularly through 2026. Considered and not
 * taken: re2-wasm 1.0.2 (Apache-2.0, Google's RE2 built to WebAssembly, its only release on the
 * registry): its wrapper never frees a compiled pattern and its WASM heap is fixed at 16 MiB, so
 * about 6,600 compilations of an ordinary route pattern abort it (measured here with Node 20) — a
 * gateway recompiles every pattern on each config reload; it also instantiates a ~0.9 MB module at
 * import (~50 ms) and accepts only patterns compiled with the `u` flag. The native `re2` package
 * needs a download or a compiler at install time. re2js compiles and matches synchronously with
 * RE2's semantics and no state outside the JavaScript heap.
 *
 * Linear is not free: the cost per character grows with the compiled program. A program larger
 * than MAX_REGEX_PROGRAM_SIZE is refused (Envoy bounds it too, `max_program_size`); at that bound the
 * slowest patterns we tried matched a 16 KB value in under 10 ms on this machine class.
 */
import { RE2JS } from 're2js';

/** Largest RE2 program (its instruction count, RE2's own cost measure) a pattern may compile to. */
export const MAX_REGEX_PROGRAM_SIZE = 500;

/** A compiled pattern: `test` is true when the pattern matches the whole input. */
export interface RouteRegex {
  readonly source: string;
  test(input: string): boolean;
}

export type CompiledRegex = { readonly ok: true; readonly regex: RouteRegex } | { readonly ok: false; readonly error: string };

/** Compiled patterns by source: the translator, the IR validation and the matcher compile the same ones. */
const cache = new Map<string, CompiledRegex>();
const MAX_CACHED = 4096;

function compileUncached(source: string): CompiledRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, error: `not valid RE2 syntax: ${message}` };
  }
  const size = re.programSize();
  if (size > MAX_REGEX_PROGRAM_SIZE)
    return { ok: false, error: `too complex: compiles to ${size} RE2 instructions, at most ${MAX_REGEX_PROGRAM_SIZE} are allowed` };
  return { ok: true, regex: { source, test: (input) => re.testExact(input) } };
}

/** Compiles a route pattern, or says why it cannot be used. */
export function compileRouteRegex(source: string): CompiledRegex {
  let compiled = cache.get(source);
  if (compiled === undefined) {
    compiled = compileUncached(source);
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(source, compiled);
  }
  return compiled;
}
