import type { QueueIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { QueueClassifier, type QueueRequest } from './classify.js';

const ir: QueueIR = {
  maxInFlight: 1,
  concurrencyScope: 'Route',
  counter: 'ns/q',
  maxQueued: 1,
  priorityClasses: [
    { name: 'vip', priority: 100, sharePercent: 0, tenants: ['acme'], users: ['ceo'], claim: { name: 'plan', values: ['enterprise'] } },
    { name: 'standard', priority: 50, sharePercent: 0, tenants: [], users: [] },
    { name: 'batch', priority: 10, sharePercent: 10, tenants: [], users: [], header: { name: 'x-priority', values: ['batch', 'bulk'] } },
  ],
  defaultPriorityClass: 'standard',
  fairness: { key: 'Header', header: 'x-team', quantum: 1, maxFlows: 10, weights: [] },
  deadline: { defaultMs: 30_000, maxMs: 60_000, header: 'x-request-deadline-ms' },
  rejectStatus: 503,
  source: { kind: 'QueuePolicy', namespace: 'ns', name: 'q', generation: 1 },
};

function req(o: { tenant?: string; user?: string; headers?: Record<string, string>; claims?: Record<string, string> } = {}): QueueRequest {
  return {
    tenant: o.tenant,
    user: o.user,
    clientIp: '10.0.0.1',
    header: (n) => o.headers?.[n],
    claim: (n) => o.claims?.[n],
  };
}

describe('QueueClassifier', () => {
  const c = new QueueClassifier(ir);

  it('takes the highest class a request matches: tenant, user, verified claim, or header; else the default', () => {
    expect(c.classify(req({ tenant: 'acme' }))).toMatchObject({ ok: true, cls: 0 });
    expect(c.classify(req({ user: 'ceo', headers: { 'x-priority': 'batch' } }))).toMatchObject({ ok: true, cls: 0 });
    expect(c.classify(req({ claims: { plan: 'enterprise' } }))).toMatchObject({ ok: true, cls: 0 });
    expect(c.classify(req({ claims: { plan: 'free' } }))).toMatchObject({ ok: true, cls: 1 });
    expect(c.classify(req({ headers: { 'x-priority': 'bulk' } }))).toMatchObject({ ok: true, cls: 2 });
    expect(c.classify(req())).toMatchObject({ ok: true, cls: 1 });
    expect(c.classNames).toEqual(['vip', 'standard', 'batch']);
    expect(c.classIndex('batch')).toBe(2);
    expect(c.classIndex('gold')).toBeUndefined();
  });

  it('refuses a class-selecting header value that no class lists', () => {
    const r = c.classify(req({ headers: { 'x-priority': 'platinum' } }));
    expect(r).toMatchObject({ ok: false, problem: 'unknown-priority-class' });
    expect(r.ok ? '' : r.detail).toContain('batch, bulk');
  });

  it('keys flows by the fairness key', () => {
    expect(c.classify(req({ headers: { 'x-team': 'search' } }))).toMatchObject({ flow: 'search' });
    expect(c.classify(req())).toMatchObject({ flow: '' });
    expect(c.classify(req({ headers: { 'x-team': 'x'.repeat(1000) } }))).toMatchObject({ flow: 'x'.repeat(256) });
    const byTenant = new QueueClassifier({ ...ir, fairness: { key: 'Tenant', quantum: 1, maxFlows: 10, weights: [] } });
    expect(byTenant.classify(req({ tenant: 'globex' }))).toMatchObject({ flow: 'globex' });
  });

  it('gives the default deadline, a shorter one a client asks for, the max for a longer one, and 400 for garbage', () => {
    expect(c.classify(req())).toMatchObject({ deadlineMs: 30_000 });
    expect(c.classify(req({ headers: { 'x-request-deadline-ms': '250' } }))).toMatchObject({ deadlineMs: 250 });
    expect(c.classify(req({ headers: { 'x-request-deadline-ms': '999999' } }))).toMatchObject({ deadlineMs: 60_000 });
    for (const bad of ['0', '-1', '1.5', 'soon', '', '1e3'])
      expect(c.classify(req({ headers: { 'x-request-deadline-ms': bad } })), bad).toMatchObject({ ok: false, problem: 'invalid-deadline' });
  });

  it('puts every request in one class when the policy has none', () => {
    const fifo = new QueueClassifier({ ...ir, priorityClasses: [], defaultPriorityClass: undefined, fairness: undefined });
    expect(fifo.classify(req({ headers: { 'x-priority': 'anything' } }))).toMatchObject({ ok: true, cls: 0, flow: '' });
    expect(fifo.classNames).toEqual(['']);
  });
});
