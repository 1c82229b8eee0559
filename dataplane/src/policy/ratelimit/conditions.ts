/**
 * A level's `when`, compiled once at config load into one test per request: methods, the path
 * (exact, by segment prefix, or an RE2 pattern), headers and query parameters (exact, RE2 or
 * present), and the model of an OpenAI-compatible body; each condition can be inverted, and all
 * must hold. Patterns are RE2 (api/src/ir/regex.ts), linear in the value's length, like routes'.
 */
import { compileRouteRegex, type RateLimitLevelIR } from '@jarvis/api';
import type { LimitRequest } from './types.js';

type When = RateLimitLevelIR['when'];
type Test = (req: LimitRequest) => boolean;

function regex(source: string, where: string): (v: string) => boolean {
  const compiled = compileRouteRegex(source);
  if (!compiled.ok) throw new Error(`${where}: invalid regular expression ${JSON.stringify(source)}: ${compiled.error}`);
  const re = compiled.regex;
  return (v) => re.test(v);
}

function pathTest(p: NonNullable<When['path']>, where: string): (path: string) => boolean {
  if (p.type === 'Exact') {
    const v = p.value;
    return (path) => path === v;
  }
  if (p.type === 'RegularExpression') return regex(p.value, where);
  const prefix = p.value.length > 1 && p.value.endsWith('/') ? p.value.slice(0, -1) : p.value;
  if (prefix === '/') return () => true;
  const withSlash = `${prefix}/`;
  return (path) => path === prefix || path.startsWith(withSlash);
}

function valueTest(c: When['headers'][number], where: string): (v: string | undefined) => boolean {
  if (c.type === 'Present') return (v) => v !== undefined;
  if (c.type === 'Exact') {
    const expected = c.value ?? '';
    return (v) => v === expected;
  }
  const re = regex(c.value ?? '', where);
  return (v) => v !== undefined && re(v);
}

const inverted =
  <A>(test: (a: A) => boolean, invert: boolean) =>
  (a: A): boolean =>
    test(a) !== invert;

/** The level's conditions as one test; undefined when it has none (every request counts). */
export function compileWhen(when: When, where: string): Test | undefined {
  const tests: Test[] = [];
  if (when.methods.length > 0) {
    const methods = new Set(when.methods.map((m) => m.toUpperCase()));
    tests.push((req) => methods.has(req.method.toUpperCase()));
  }
  if (when.path) {
    const t = inverted(pathTest(when.path, `${where}.path`), when.path.invert);
    tests.push((req) => t(req.path));
  }
  when.headers.forEach((c, i) => {
    const name = c.name.toLowerCase();
    const t = inverted(valueTest(c, `${where}.headers[${i}]`), c.invert);
    tests.push((req) => t(req.header(name)));
  });
  when.queryParams.forEach((c, i) => {
    const name = c.name;
    const t = inverted(valueTest(c, `${where}.queryParams[${i}]`), c.invert);
    tests.push((req) => t(req.queryParam(name)));
  });
  if (when.model) {
    const m = when.model;
    const match = m.type === 'Exact' ? (v: string) => v === m.value : regex(m.value, `${where}.model`);
    const t = inverted((v: string | undefined) => v !== undefined && match(v), m.invert);
    tests.push((req) => t(req.llmModel));
  }
  if (tests.length === 0) return undefined;
  if (tests.length === 1) return tests[0];
  return (req) => {
    for (const t of tests) if (!t(req)) return false;
    return true;
  };
}

/** Whether a level needs the request body (its cost, key or conditions read the LLM body). */
export function levelNeedsBody(l: RateLimitLevelIR): boolean {
  return l.cost.type === 'LlmTokens' || l.key.some((p) => p.type === 'Model') || l.when.model !== undefined;
}
