/**
 * The `model` rewrite of a fallback step: the request body of an OpenAI-compatible API with its
 * top-level `model` member set to the step's model. Only that value changes; every other byte of
 * the body stays as the client sent it (no parse and re-serialisation that could reorder keys or
 * reformat numbers). A body that is not a JSON object is left alone.
 */

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string starting at `i` (a `"`), or -1 when it does not end. */
function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  return -1;
}

/** Index just past the value starting at `i`, or -1 when it does not end. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s[j];
      if (d === '"') {
        j = skipString(s, j);
        if (j < 0) return -1;
        j--;
      } else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < s.length) {
    const d = s[j];
    if (d === ',' || d === '}' || d === ']' || WS.has(s.charCodeAt(j))) break;
    j++;
  }
  return j > i ? j : -1;
}

/**
 * The body with `"model": <model>` in place of its top-level model value (each one, should the
 * key repeat), or the member added first when there is none; undefined when the body is not a
 * JSON object.
 */
export function rewriteModel(body: Buffer, model: string): Buffer | undefined {
  const s = body.toString('utf8');
  let i = skipWs(s, 0);
  if (s[i] !== '{') return undefined;
  const open = i;
  const spans: [number, number][] = [];
  i = skipWs(s, i + 1);
  let members = 0;
  if (s[i] === '}') i++;
  else {
    for (;;) {
      if (s[i] !== '"') return undefined;
      const keyEnd = skipString(s, i);
      if (keyEnd < 0) return undefined;
      let key: unknown;
      try {
        key = JSON.parse(s.slice(i, keyEnd));
      } catch {
        return undefined;
      }
      i = skipWs(s, keyEnd);
      if (s[i] !== ':') return undefined;
      const start = skipWs(s, i + 1);
      const end = skipValue(s, start);
      if (end < 0) return undefined;
      if (key === 'model') spans.push([start, end]);
      members++;
      i = skipWs(s, end);
      if (s[i] === ',') {
        i = skipWs(s, i + 1);
        continue;
      }
      if (s[i] !== '}') return undefined;
      i++;
      break;
    }
  }
  if (skipWs(s, i) !== s.length) return undefined;
  const value = JSON.stringify(model);
  if (spans.length === 0) {
    return Buffer.from(`${s.slice(0, open + 1)}"model":${value}${members > 0 ? ',' : ''}${s.slice(open + 1)}`, 'utf8');
  }
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    out += s.slice(at, start) + value;
    at = end;
  }
  return Buffer.from(out + s.slice(at), 'utf8');
}
