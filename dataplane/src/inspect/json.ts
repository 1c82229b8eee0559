/**
 * Parsing a JSON body at a bounded cost. JSON.parse recurses once per nesting level: a body of a
 * few MB of `[[[[…` takes the event loop for most of a second, and 10^5 levels overflow the stack.
 * One linear pass over the bytes counts the nesting (outside strings) first and refuses a document
 * deeper than the bound before JSON.parse sees it; the size bound is the caller's (the body limit).
 */

/** Deeper than any OpenAI-compatible request needs (messages → content parts → a tool schema). */
export const MAX_JSON_DEPTH = 64;

/** Whether the JSON text in `buf` nests deeper than `max` arrays/objects (strings and escapes skipped). */
export function jsonDeeperThan(buf: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export type JsonParse = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly why: string };

/** Parses `buf` as JSON within the depth bound; never throws. */
export function parseJsonBounded(buf: Buffer, maxDepth = MAX_JSON_DEPTH): JsonParse {
  if (jsonDeeperThan(buf, maxDepth)) return { ok: false, why: `nested deeper than ${maxDepth} levels` };
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message.slice(0, 200) : 'not JSON' };
  }
}
