/**
 * The HTTPRoute matcher, compiled once per config. Gateway API precedence: a request is matched
 * first by host (routes with the exact hostname, then the longest matching wildcard, then routes
 * without hostnames), then by the gateway's matchOrder (exact path, regex, longest prefix, method,
 * more headers, more query params, older route). Regular expressions are RE2 patterns matched in
 * linear time (@jarvis/api's compileRouteRegex, re2js), never backtracking RegExp, so no pattern a
 * route author writes can stall the event loop on a long path or header. They are compiled here,
 * so a bad one makes the whole config invalid (NACK) instead of failing on a request.
 */
import { compileRouteRegex, pushTo, type GatewayIR, type RouteIR, type RouteRegex } from '@jarvis/api';

type Match = RouteIR['matches'][number];

export interface RequestLine {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The query string without `?`, or ''. */
  readonly query: string;
  /** Lower-cased host without port. */
  readonly host: string;
  header(name: string): string | undefined;
}

type Test = (req: RequestLine, query: () => URLSearchParams) => boolean;

interface Entry {
  readonly route: RouteIR;
  readonly test: Test;
}

export interface Matcher {
  match(req: RequestLine): RouteIR | undefined;
}

/** A pattern that must match the whole value. */
function fullRegex(source: string, what: string): RouteRegex {
  const compiled = compileRouteRegex(source);
  if (!compiled.ok) throw new Error(`${what}: invalid regular expression ${JSON.stringify(source)}: ${compiled.error}`);
  return compiled.regex;
}

function compilePath(path: Match['path'], where: string): (p: string) => boolean {
  if (path.type === 'Exact') {
    const v = path.value;
    return (p) => p === v;
  }
  if (path.type === 'RegularExpression') {
    const re = fullRegex(path.value, where);
    return (p) => re.test(p);
  }
  const prefix = path.value.length > 1 && path.value.endsWith('/') ? path.value.slice(0, -1) : path.value;
  if (prefix === '/') return () => true;
  const withSlash = `${prefix}/`;
  return (p) => p === prefix || p.startsWith(withSlash);
}

function compileValue(m: Match['headers'][number], where: string): (v: string | null | undefined) => boolean {
  if (m.type === 'Exact') {
    const v = m.value;
    return (x) => x === v;
  }
  const re = fullRegex(m.value, where);
  return (x) => x !== undefined && x !== null && re.test(x);
}

function compileMatch(m: Match, where: string): Test {
  const path = compilePath(m.path, `${where}.path`);
  const method = m.method;
  const headers = m.headers.map((h, i) => ({ name: h.name.toLowerCase(), test: compileValue(h, `${where}.headers[${i}]`) }));
  const params = m.queryParams.map((q, i) => ({ name: q.name, test: compileValue(q, `${where}.queryParams[${i}]`) }));
  if (method === undefined && headers.length === 0 && params.length === 0) return (req) => path(req.path);
  return (req, query) => {
    if (!path(req.path)) return false;
    if (method !== undefined && req.method !== method) return false;
    for (const h of headers) if (!h.test(req.header(h.name))) return false;
    if (params.length > 0) {
      const q = query();
      for (const p of params) if (!p.test(q.get(p.name))) return false;
    }
    return true;
  };
}

function hostTier(hostname: string): 'exact' | 'wildcard' {
  return hostname.startsWith('*.') ? 'wildcard' : 'exact';
}

export function compileMatcher(gateway: GatewayIR): Matcher {
  const steps = matcherSteps(gateway);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Matches compiled between two pauses of a sliced compile. */
const MATCHES_PER_STEP = 256;

/**
 * compileMatcher as steps: the generator yields after every few hundred matches, so that a caller
 * compiling a large config can let traffic through between them (pipeline/compile.ts).
 */
export function* matcherSteps(gateway: GatewayIR): Generator<void, Matcher> {
  const routes = new Map(gateway.routes.map((r) => [r.id, r]));
  const ordered: Entry[] = [];
  for (let i = 0; i < gateway.matchOrder.length; i++) {
    const ref = gateway.matchOrder[i]!;
    const route = routes.get(ref.route);
    const m = route?.matches[ref.match];
    if (!route || !m) throw new Error(`matchOrder[${i}] names ${ref.route} match ${ref.match}, which does not exist`);
    ordered.push({ route, test: compileMatch(m, `route ${route.id} matches[${ref.match}]`) });
    if (i % MATCHES_PER_STEP === MATCHES_PER_STEP - 1) yield;
  }

  // Host tiers (routes for any host, exact hosts, wildcard suffixes): entries are kept in matchOrder within each tier.
  const anyHost = ordered.filter((e) => e.route.hostnames.length === 0);
  const exact = new Map<string, Entry[]>();
  const wildcards = new Map<string, Entry[]>(); // suffix (".example.com") → entries
  for (const e of ordered) {
    for (const h of e.route.hostnames) {
      const host = h.toLowerCase();
      if (hostTier(host) === 'exact') pushTo(exact, host, e);
      else pushTo(wildcards, host.slice(1), e);
    }
  }
  const suffixes = [...wildcards.keys()].sort((a, b) => b.length - a.length);
  const hostless = exact.size === 0 && wildcards.size === 0;

  const first = (entries: readonly Entry[], req: RequestLine): RouteIR | undefined => {
    let parsed: URLSearchParams | undefined;
    const query = () => (parsed ??= new URLSearchParams(req.query));
    for (const e of entries) if (e.test(req, query)) return e.route;
    return undefined;
  };

  return {
    match(req) {
      if (hostless) return first(anyHost, req);
      const byHost = exact.get(req.host);
      if (byHost) {
        const r = first(byHost, req);
        if (r) return r;
      }
      for (const suffix of suffixes) {
        if (req.host.endsWith(suffix) && req.host.length > suffix.length) {
          const r = first(wildcards.get(suffix) ?? [], req);
          if (r) return r;
        }
      }
      return first(anyHost, req);
    },
  };
}
