/**
 * Gateway API hostname intersection of a route and a listener. A wildcard `*.example.com`
 * matches one or more labels in front of `example.com`.
 */

function wildcardMatches(wildcard: string, host: string): boolean {
  return host.endsWith(wildcard.slice(1)) && host.length > wildcard.length - 1;
}

/** The more specific of two hostnames when they intersect, else undefined. */
function intersect(a: string, b: string): string | undefined {
  if (a === b) return a;
  const wa = a.startsWith('*.');
  const wb = b.startsWith('*.');
  if (wa && !wb) return wildcardMatches(a, b) ? b : undefined;
  if (wb && !wa) return wildcardMatches(b, a) ? a : undefined;
  if (wa && wb) return wildcardMatches(a, b.slice(2)) ? b : wildcardMatches(b, a.slice(2)) ? a : undefined;
  return undefined;
}

/**
 * The hostnames a route serves on a listener: `[]` means any host, `undefined` means none
 * (the route does not attach to that listener).
 */
export function routeHostnames(routeHostnames: readonly string[], listenerHostname: string | undefined): string[] | undefined {
  if (listenerHostname === undefined) return [...routeHostnames];
  if (routeHostnames.length === 0) return [listenerHostname];
  const out = routeHostnames.map((h) => intersect(h, listenerHostname)).filter((h): h is string => h !== undefined);
  return out.length > 0 ? out : undefined;
}
