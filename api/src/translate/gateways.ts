/** A GatewayIR: listeners, routes in precedence order with their match table, and the policies used. */
import { compareMatchPrecedence, compareStrings, sortPolicyRefs } from '../ir/order.js';
import type { GatewayIR, IdentityIR, PolicyRef } from '../ir/types.js';
import type { RouteAttachment } from './attach.js';
import type { GatewayModel } from './model.js';
import { compareAge } from './policyref.js';
import type { BuiltRoute } from './routes.js';

export interface GatewayRoutes {
  readonly attachment: RouteAttachment;
  readonly routes: readonly BuiltRoute[];
}

export function buildGateway(gateway: GatewayModel, attached: readonly GatewayRoutes[], identity?: IdentityIR): GatewayIR {
  const entries = attached.flatMap(({ attachment, routes }) =>
    routes.flatMap((r) => r.ir.matches.map((match, m) => ({ route: r.ir, meta: attachment.route.meta, match, m }))),
  );
  entries.sort(
    (a, b) => compareMatchPrecedence(a.match, b.match) || compareAge(a.meta, b.meta) || a.route.ruleIndex - b.route.ruleIndex || a.m - b.m,
  );
  const routes: BuiltRoute['ir'][] = [];
  const seen = new Set<string>();
  for (const e of entries)
    if (!seen.has(e.route.id)) {
      seen.add(e.route.id);
      routes.push(e.route);
    }
  const policies: PolicyRef[] = attached.flatMap(({ routes: rs }) => rs.flatMap((r) => r.policies));
  if (identity?.source) policies.push(identity.source);
  return {
    id: `${gateway.meta.namespace}/${gateway.meta.name}`,
    listeners: gateway.listeners
      .filter((l) => l.protocol === 'HTTP')
      .map((l) => ({ name: l.name, port: l.port, protocol: 'HTTP' as const, hostnames: l.hostname ? [l.hostname] : [] }))
      .sort((a, b) => compareStrings(a.name, b.name)),
    routes,
    matchOrder: entries.map((e) => ({ route: e.route.id, match: e.m })),
    policies: sortPolicyRefs(policies),
    ...(identity ? { identity } : {}),
  };
}
