/**
 * The demo's view of the limits in effect, from the gateway's `GET /admin/config` (`rateLimits`:
 * per route, the mode its limiter is in and, per level, the limit that mode enforces). Without
 * Redis a policy that wants Redis runs in its failure mode — Local divides its limits — and the
 * user should see the numbers the gateway really enforces, not the ones in the YAML.
 */

interface RouteLimits {
  route: string;
  mode: string;
  policies: string[];
  expectedReplicas: number;
  summary: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function routeLimits(v: unknown): RouteLimits | undefined {
  if (!isRecord(v)) return undefined;
  const { route, mode, policies, expectedReplicas, summary } = v;
  if (typeof route !== 'string' || typeof mode !== 'string' || !Array.isArray(summary) || !Array.isArray(policies)) return undefined;
  return {
    route,
    mode,
    policies: policies.filter((p): p is string => typeof p === 'string'),
    expectedReplicas: typeof expectedReplicas === 'number' ? expectedReplicas : 1,
    summary: summary.filter((s): s is string => typeof s === 'string'),
  };
}

const MODE_TEXT: Record<string, (r: RouteLimits) => string> = {
  memory: () => 'in memory',
  redis: () => 'in Redis',
  local: (r) => `Local mode, no Redis: each limit ÷ expectedReplicas ${r.expectedReplicas}`,
  open: () => 'failure mode Open, no Redis: NOT enforced',
  closed: () => 'failure mode Closed, no Redis: requests get 503',
};

/** Lines for the banner: one per route, then its levels; empty when the config has no limits. */
export function renderLimits(config: unknown): string[] {
  const list = isRecord(config) && Array.isArray(config['rateLimits']) ? config['rateLimits'] : [];
  const routes = list.map(routeLimits).filter((r): r is RouteLimits => r !== undefined);
  if (routes.length === 0) return [];
  const lines = ['Rate limits in effect (GET /admin/config):'];
  for (const r of routes.sort((a, b) => a.route.localeCompare(b.route))) {
    lines.push(`  ${r.route} — ${r.policies.join(', ')} — ${(MODE_TEXT[r.mode] ?? (() => r.mode))(r)}`);
    for (const s of r.summary) lines.push(`      ${s}`);
  }
  if (routes.some((r) => r.mode === 'local' || r.mode === 'open' || r.mode === 'closed'))
    lines.push("  Set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379 npm run demo) to share the policies' limits in Redis.");
  return lines;
}
