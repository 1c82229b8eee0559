/**
 * The invariants of the IR that its schema cannot express: unique and sorted ids, references
 * that resolve, thresholds in the right order, regular expressions that RE2 compiles (regex.ts). Each check
 * appends `<path>: <message>` strings; an empty list means the value holds.
 */
import { isReservedFeatureHeader } from './feature-header.js';
import type { BackendIR, GatewayIR, IR, RateLimitLevelIR, RouteIR } from './types.js';
import { compareMatchPrecedence, comparePolicyRefs, compareStrings, shedRuleKey } from './order.js';
import { isBursty } from '../schema/ratelimit.js';
import { compileRouteRegex } from './regex.js';
import { identityInvariants } from './identity-invariants.js';

type Errors = string[];

function sortedUnique<T>(items: readonly T[], key: (t: T) => string, path: string, what: string, errors: Errors): void {
  for (let i = 1; i < items.length; i++) {
    const prev = key(items[i - 1] as T);
    const cur = key(items[i] as T);
    const order = compareStrings(prev, cur);
    if (order === 0) errors.push(`${path}[${i}]: duplicate ${what} ${cur}`);
    else if (order > 0) errors.push(`${path}[${i}]: ${what} ${cur} is not sorted (after ${prev})`);
  }
}

function policiesSorted(refs: GatewayIR['policies'], path: string, errors: Errors): void {
  for (let i = 1; i < refs.length; i++)
    if (comparePolicyRefs(refs[i - 1]!, refs[i]!) >= 0) errors.push(`${path}[${i}]: policies must be sorted and unique`);
}

function regex(source: string, path: string, errors: Errors): void {
  const compiled = compileRouteRegex(source);
  if (!compiled.ok) errors.push(`${path}: invalid regular expression: ${compiled.error}`);
}

const NAMED_PARTS: ReadonlySet<string> = new Set(['Header', 'Claim', 'QueryParam']);

function checkLevel(l: RateLimitLevelIR, lp: string, errors: Errors): void {
  const seen = new Set<string>();
  l.key.forEach((p, j) => {
    if (NAMED_PARTS.has(p.type) !== (p.name !== undefined))
      errors.push(`${lp}.key[${j}].name: required exactly for Header, Claim and QueryParam`);
    const id = `${p.type}\n${p.name ?? ''}`;
    if (seen.has(id)) errors.push(`${lp}.key[${j}]: duplicate key part ${p.type}${p.name ? ` ${p.name}` : ''}`);
    seen.add(id);
  });
  if (isBursty(l.algorithm) !== (l.burst !== undefined)) errors.push(`${lp}.burst: required exactly for TokenBucket and GCRA`);
  if (l.burst !== undefined && l.burst < l.limit) errors.push(`${lp}.burst: must be at least limit`);
  if (l.tenantOverrides.length > 0 && !l.key.some((p) => p.type === 'Tenant'))
    errors.push(`${lp}.tenantOverrides: only for a level keyed by tenant`);
  if ((l.planClaim !== undefined) !== l.plans.length > 0) errors.push(`${lp}.planClaim: required exactly when there are plans`);
  sortedUnique(l.plans, (p) => p.name, `${lp}.plans`, 'plan', errors);
  l.plans.forEach((p, j) => {
    if (isBursty(l.algorithm) !== (p.burst !== undefined))
      errors.push(`${lp}.plans[${j}].burst: required exactly for TokenBucket and GCRA`);
    if (p.burst !== undefined && p.burst < p.limit) errors.push(`${lp}.plans[${j}].burst: must be at least limit`);
  });
  const w = l.when;
  if (w.path) {
    if (w.path.type === 'RegularExpression') regex(w.path.value, `${lp}.when.path.value`, errors);
    else if (!w.path.value.startsWith('/')) errors.push(`${lp}.when.path.value: must start with /`);
  }
  for (const [list, field] of [
    [w.headers, 'headers'],
    [w.queryParams, 'queryParams'],
  ] as const)
    list.forEach((c, j) => {
      const cp = `${lp}.when.${field}[${j}]`;
      if ((c.type === 'Present') !== (c.value === undefined)) errors.push(`${cp}.value: required exactly unless type is Present`);
      if (c.type === 'RegularExpression' && c.value !== undefined) regex(c.value, `${cp}.value`, errors);
    });
  if (w.model?.type === 'RegularExpression') regex(w.model.value, `${lp}.when.model.value`, errors);
}

function checkRoute(route: RouteIR, path: string, listeners: ReadonlySet<string>, errors: Errors): void {
  sortedUnique(route.listeners, (l) => l, `${path}.listeners`, 'listener', errors);
  route.listeners.forEach((l, i) => {
    if (!listeners.has(l)) errors.push(`${path}.listeners[${i}]: no listener ${l} in the gateway`);
  });
  route.matches.forEach((m, i) => {
    const mp = `${path}.matches[${i}]`;
    if (m.path.type === 'RegularExpression') regex(m.path.value, `${mp}.path.value`, errors);
    else if (!m.path.value.startsWith('/')) errors.push(`${mp}.path.value: must start with /`);
    for (const [list, field] of [
      [m.headers, 'headers'],
      [m.queryParams, 'queryParams'],
    ] as const) {
      sortedUnique(list, (h) => h.name, `${mp}.${field}`, 'name', errors);
      list.forEach((h, j) => {
        if (h.type === 'RegularExpression') regex(h.value, `${mp}.${field}[${j}].value`, errors);
      });
    }
  });
  sortedUnique(route.backends, (b) => b.backend, `${path}.backends`, 'backend', errors);
  const t = route.timeouts;
  if (t?.requestMs !== undefined && t.backendRequestMs !== undefined && t.backendRequestMs > t.requestMs)
    errors.push(`${path}.timeouts.backendRequestMs: must not exceed requestMs`);

  const rl = route.rateLimit;
  if (rl) {
    sortedUnique(rl.levels, (l) => l.name, `${path}.rateLimit.levels`, 'level', errors);
    policiesSorted(rl.policies, `${path}.rateLimit.policies`, errors);
    rl.levels.forEach((l, i) => {
      const lp = `${path}.rateLimit.levels[${i}]`;
      checkLevel(l, lp, errors);
    });
    if (rl.hotspot && rl.hotspot.deactivateSharePercent >= rl.hotspot.activateSharePercent)
      errors.push(`${path}.rateLimit.hotspot.deactivateSharePercent: must be lower than activateSharePercent`);
  }

  const q = route.queue;
  if (q) {
    if (q.deadline.defaultMs > q.deadline.maxMs) errors.push(`${path}.queue.deadline.defaultMs: must not exceed maxMs`);
    if (q.defaultPriorityClass !== undefined && !q.priorityClasses.some((c) => c.name === q.defaultPriorityClass))
      errors.push(`${path}.queue.defaultPriorityClass: no priority class ${q.defaultPriorityClass}`);
    if (q.deadLetter && !q.async && !q.deadLetter.synchronous) errors.push(`${path}.queue.deadLetter: needs async or synchronous`);
    if (q.adaptive && q.adaptive.minLimit > q.maxInFlight) errors.push(`${path}.queue.adaptive.minLimit: must not exceed maxInFlight`);
    if (q.adaptive && q.adaptive.sampleIntervalMs < 1) errors.push(`${path}.queue.adaptive.sampleIntervalMs: must be at least 1`);
    if (q.priorityClasses.reduce((n, c) => n + c.sharePercent, 0) > 100)
      errors.push(`${path}.queue.priorityClasses: shares add up to more than 100 percent`);
    if (q.fairness && (q.fairness.key === 'Header') !== (q.fairness.header !== undefined))
      errors.push(`${path}.queue.fairness.header: required exactly for key Header`);
    if (q.deadline.defaultMs < 1) errors.push(`${path}.queue.deadline.defaultMs: must be at least 1`);
    if (new Set(q.priorityClasses.map((c) => c.name)).size !== q.priorityClasses.length)
      errors.push(`${path}.queue.priorityClasses: duplicate names`);
    for (let i = 1; i < q.priorityClasses.length; i++)
      if (q.priorityClasses[i - 1]!.priority < q.priorityClasses[i]!.priority)
        errors.push(`${path}.queue.priorityClasses[${i}]: must be sorted by priority, highest first`);
  }

  const d = route.degradation;
  if (d) {
    const dp = `${path}.degradation`;
    sortedUnique(d.triggers, (t) => t.name, `${dp}.triggers`, 'trigger', errors);
    sortedUnique(d.featureToggles, (t) => t.name, `${dp}.featureToggles`, 'toggle', errors);
    const triggers = new Set(d.triggers.map((t) => t.name));
    if (isReservedFeatureHeader(d.featureHeader))
      errors.push(`${dp}.featureHeader: ${d.featureHeader} is a header the gateway owns; choose another (e.g. x-jarvis-features)`);
    d.triggers.forEach((t, i) => {
      const tp = `${dp}.triggers[${i}]`;
      const byPercent = t.type === 'ErrorRate' || t.type === 'CPU' || t.type === 'Memory';
      if (byPercent !== (t.percent !== undefined)) errors.push(`${tp}.percent: required exactly for ErrorRate, CPU and Memory`);
      if (byPercent === (t.latency !== undefined)) errors.push(`${tp}.latency: required exactly for LatencyP95 and EventLoopLag`);
      if (t.percent && t.percent.deactivate >= t.percent.activate) errors.push(`${tp}.percent.deactivate: must be lower than activate`);
      if (t.latency && t.latency.deactivateMs >= t.latency.activateMs)
        errors.push(`${tp}.latency.deactivateMs: must be lower than activateMs`);
    });
    d.featureToggles.forEach((t, i) =>
      t.disableWhen.forEach((n, j) => {
        if (!triggers.has(n)) errors.push(`${dp}.featureToggles[${i}].disableWhen[${j}]: no trigger ${n}`);
      }),
    );
    const shed = d.shedPriorityClasses;
    if (shed) {
      sortedUnique(shed, shedRuleKey, `${dp}.shedPriorityClasses`, 'rule', errors);
      shed.forEach((r, i) => {
        const rp = `${dp}.shedPriorityClasses[${i}]`;
        sortedUnique(r.triggers, (n) => n, `${rp}.triggers`, 'trigger', errors);
        sortedUnique(r.classes, (n) => n, `${rp}.classes`, 'class', errors);
        r.triggers.forEach((n, j) => {
          if (!triggers.has(n)) errors.push(`${rp}.triggers[${j}]: no trigger ${n}`);
        });
      });
    }
    const fb = d.fallback;
    if (fb) {
      const names = new Set<string>();
      fb.chain.forEach((s, i) => {
        const sp = `${dp}.fallback.chain[${i}]`;
        if (names.has(s.name)) errors.push(`${sp}.name: duplicate step ${s.name}`);
        names.add(s.name);
        if ((s.backend !== undefined) === (s.static !== undefined)) errors.push(`${sp}: exactly one of backend and static`);
        if (s.static && i !== fb.chain.length - 1) errors.push(`${sp}.static: only the last step may be static`);
        if (s.model !== undefined && s.backend === undefined) errors.push(`${sp}.model: needs a backend`);
      });
      if (fb.whenTriggered) {
        if (!names.has(fb.whenTriggered.startAt)) errors.push(`${dp}.fallback.whenTriggered.startAt: no step ${fb.whenTriggered.startAt}`);
        fb.whenTriggered.triggers.forEach((n, j) => {
          if (!triggers.has(n)) errors.push(`${dp}.fallback.whenTriggered.triggers[${j}]: no trigger ${n}`);
        });
      }
    }
  }

  const c = route.cache;
  if (c) {
    if (c.l1.ttlMs > c.ttlMs) errors.push(`${path}.cache.l1.ttlMs: must not exceed ttlMs`);
    if (c.l2.ttlMs > c.ttlMs) errors.push(`${path}.cache.l2.ttlMs: must not exceed ttlMs`);
    if (c.methods.includes('POST') && !c.key.body) errors.push(`${path}.cache.key.body: required when POST is cached`);
    if (c.coalescing.acrossReplicas && !c.l2.enabled) errors.push(`${path}.cache.coalescing.acrossReplicas: needs l2.enabled`);
  }
}

/** The invariants of one GatewayIR on its own. */
export function gatewayInvariants(gw: GatewayIR, path = 'gateway'): string[] {
  const errors: Errors = [];
  if (!/^[^/]+\/[^/]+$/.test(gw.id)) errors.push(`${path}.id: must be <namespace>/<name>`);
  sortedUnique(gw.listeners, (l) => l.name, `${path}.listeners`, 'listener', errors);
  const listeners = new Set(gw.listeners.map((l) => l.name));
  const routes = new Map<string, RouteIR>();
  gw.routes.forEach((r, i) => {
    if (routes.has(r.id)) errors.push(`${path}.routes[${i}].id: duplicate route ${r.id}`);
    routes.set(r.id, r);
    checkRoute(r, `${path}.routes[${i}]`, listeners, errors);
  });

  const seen = new Set<string>();
  const firstSeen: string[] = [];
  gw.matchOrder.forEach((ref, i) => {
    const mp = `${path}.matchOrder[${i}]`;
    const route = routes.get(ref.route);
    const match = route?.matches[ref.match];
    if (!route || !match) {
      errors.push(`${mp}: no match ${ref.match} in route ${ref.route}`);
      return;
    }
    const key = `${ref.route}#${ref.match}`;
    if (seen.has(key)) errors.push(`${mp}: match ${key} listed twice`);
    seen.add(key);
    if (!firstSeen.includes(ref.route)) firstSeen.push(ref.route);
    const prev = gw.matchOrder[i - 1];
    const prevMatch = prev ? routes.get(prev.route)?.matches[prev.match] : undefined;
    if (prevMatch && compareMatchPrecedence(prevMatch, match) > 0) errors.push(`${mp}: not in precedence order`);
  });
  const total = gw.routes.reduce((n, r) => n + r.matches.length, 0);
  if (seen.size !== total) errors.push(`${path}.matchOrder: lists ${seen.size} of the ${total} matches`);
  if (firstSeen.join('\n') !== gw.routes.map((r) => r.id).join('\n'))
    errors.push(`${path}.routes: must be in the order of their first entry in matchOrder`);
  policiesSorted(gw.policies, `${path}.policies`, errors);
  if (gw.identity) errors.push(...identityInvariants(gw.identity, `${path}.identity`));
  return errors;
}

/** The invariants of one BackendIR on its own. */
export function backendInvariants(be: BackendIR, path = 'backend'): string[] {
  const errors: Errors = [];
  const { namespace, name, port } = be.service;
  if (be.id !== `${namespace}/${name}:${port}`) errors.push(`${path}.id: must be ${namespace}/${name}:${port}`);
  sortedUnique(be.endpoints, (e) => `${e.address}\u0000${String(e.port).padStart(5, '0')}`, `${path}.endpoints`, 'endpoint', errors);
  const cb = be.circuitBreaker;
  if (cb) {
    const cp = `${path}.circuitBreaker`;
    if (!cb.breaker && !cb.outlierDetection && !cb.activeHealthCheck && !cb.retry)
      errors.push(`${cp}: needs breaker, outlierDetection, activeHealthCheck or retry`);
    const b = cb.breaker;
    if (b) {
      if (b.halfOpen.successThreshold > b.halfOpen.maxProbes)
        errors.push(`${cp}.breaker.halfOpen.successThreshold: must not exceed maxProbes`);
      if (b.openDuration.baseMs > b.openDuration.maxMs) errors.push(`${cp}.breaker.openDuration.baseMs: must not exceed maxMs`);
      if (b.window.type === 'Time' && b.window.durationMs <= 0) errors.push(`${cp}.breaker.window.durationMs: must be positive`);
    }
    const r = cb.retry;
    if (r && r.backoff.baseMs > r.backoff.maxMs) errors.push(`${cp}.retry.backoff.baseMs: must not exceed maxMs`);
    const o = cb.outlierDetection;
    if (o && o.baseEjectionTimeMs > o.maxEjectionTimeMs)
      errors.push(`${cp}.outlierDetection.baseEjectionTimeMs: must not exceed maxEjectionTimeMs`);
    if (o && o.intervalMs <= 0) errors.push(`${cp}.outlierDetection.intervalMs: must be positive`);
    const h = cb.activeHealthCheck;
    if (h) {
      if (h.timeoutMs >= h.intervalMs) errors.push(`${cp}.activeHealthCheck.timeoutMs: must be lower than intervalMs`);
      if ((h.type === 'HTTP') !== (h.http !== undefined)) errors.push(`${cp}.activeHealthCheck.http: required exactly for type HTTP`);
    }
  }
  policiesSorted(be.policies, `${path}.policies`, errors);
  return errors;
}

/** The invariants of a whole config: each resource, plus references between them. */
export function irInvariants(ir: IR): string[] {
  const errors: Errors = [];
  sortedUnique(ir.gateways, (g) => g.id, 'gateways', 'gateway', errors);
  sortedUnique(ir.backends, (b) => b.id, 'backends', 'backend', errors);
  const backends = new Set(ir.backends.map((b) => b.id));
  ir.gateways.forEach((gw, g) => {
    errors.push(...gatewayInvariants(gw, `gateways[${g}]`));
    gw.routes.forEach((r, i) => {
      const rp = `gateways[${g}].routes[${i}]`;
      r.backends.forEach((b, j) => {
        if (!backends.has(b.backend)) errors.push(`${rp}.backends[${j}].backend: no backend ${b.backend}`);
      });
      r.degradation?.fallback?.chain.forEach((s, j) => {
        if (s.backend !== undefined && !backends.has(s.backend))
          errors.push(`${rp}.degradation.fallback.chain[${j}].backend: no backend ${s.backend}`);
      });
    });
  });
  ir.backends.forEach((b, i) => errors.push(...backendInvariants(b, `backends[${i}]`)));
  return errors;
}
