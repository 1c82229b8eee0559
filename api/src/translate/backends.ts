/**
 * The BackendIRs: every Service port that a route or a compiled fallback chain uses, with its
 * endpoints and the CircuitBreakerPolicy that wins for it (see precedence.ts).
 */
import { pushTo } from '../group.js';
import type { BackendIR } from '../ir/types.js';
import { compareStrings, sortPolicyRefs } from '../ir/order.js';
import type { Catalog } from './catalog.js';
import type { Compiler } from './compiler.js';
import { endpointsOf } from './endpoints.js';
import type { ServicePortModel } from './model.js';
import type { Attached } from './policies.js';
import type { OverrideRecorder } from './overrides.js';
import { forBackend, type RuleContext } from './precedence.js';
import { effective } from './strategy.js';

/** One use of a backend by a rule (as a route backend or a fallback step). */
export interface BackendUse {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: ServicePortModel;
  readonly context: RuleContext;
}

export function buildBackends(
  cat: Catalog,
  uses: readonly BackendUse[],
  breakers: readonly Attached[],
  compile: Compiler,
  overrides: OverrideRecorder,
): BackendIR[] {
  const byId = new Map<string, BackendUse[]>();
  for (const u of uses) pushTo(byId, u.id, u);
  return [...byId.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([id, all]) => {
      const { namespace, service, port } = all[0]!;
      const candidates = forBackend(
        breakers,
        { namespace, name: service, ...(port.name ? { portName: port.name } : {}) },
        all.map((u) => u.context),
      );
      const combined = compile.combined(effective(candidates));
      const used = combined ? combined.used.map((a) => a.ref) : [];
      overrides.note(candidates, used);
      return {
        id,
        service: { namespace, name: service, port: port.port },
        endpoints: endpointsOf(cat, namespace, service, port),
        ...(combined ? { circuitBreaker: compile.circuitBreaker(combined.a) } : {}),
        policies: sortPolicyRefs(used),
      };
    });
}
