/**
 * What the queue needs to know about a request, read once when it arrives: its priority class
 * (from verified tenant or user, a header, or a verified claim; the highest matching class wins),
 * its flow for fair scheduling inside the class, and its deadline (the policy's default, or a
 * shorter one the client asks for in the deadline header, capped at the policy's max).
 */
import type { QueueIR } from '@jarvis/api';

/** The request as the classifier reads it (an Exchange). */
export interface QueueRequest {
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly clientIp: string;
  header(name: string): string | undefined;
  claim(name: string): string | undefined;
}

export type Classified =
  | { readonly ok: true; readonly cls: number; readonly flow: string; readonly deadlineMs: number }
  | { readonly ok: false; readonly problem: 'unknown-priority-class' | 'invalid-deadline'; readonly detail: string };

/** Longest flow key kept (longer header values are cut). */
const MAX_FLOW = 256;

interface CompiledClass {
  readonly name: string;
  readonly tenants: ReadonlySet<string>;
  readonly users: ReadonlySet<string>;
  readonly header: { readonly name: string; readonly values: ReadonlySet<string> } | undefined;
  readonly claim: { readonly name: string; readonly values: ReadonlySet<string> } | undefined;
}

export class QueueClassifier {
  readonly #classes: readonly CompiledClass[];
  readonly #defaultClass: number;
  /** Headers that select classes, with every value some class lists. */
  readonly #selectors: ReadonlyMap<string, ReadonlySet<string>>;
  readonly #flowKey: NonNullable<QueueIR['fairness']>['key'] | undefined;
  readonly #flowHeader: string | undefined;
  readonly #deadline: QueueIR['deadline'];

  constructor(ir: QueueIR) {
    this.#classes = ir.priorityClasses.map((c) => ({
      name: c.name,
      tenants: new Set(c.tenants),
      users: new Set(c.users),
      header: c.header ? { name: c.header.name, values: new Set(c.header.values) } : undefined,
      claim: c.claim ? { name: c.claim.name, values: new Set(c.claim.values) } : undefined,
    }));
    const byName = ir.defaultPriorityClass ? this.#classes.findIndex((c) => c.name === ir.defaultPriorityClass) : -1;
    this.#defaultClass = byName >= 0 ? byName : Math.max(0, this.#classes.length - 1);
    const selectors = new Map<string, Set<string>>();
    for (const c of ir.priorityClasses) {
      if (!c.header) continue;
      let values = selectors.get(c.header.name);
      if (!values) selectors.set(c.header.name, (values = new Set()));
      for (const v of c.header.values) values.add(v);
    }
    this.#selectors = selectors;
    this.#flowKey = ir.fairness?.key;
    this.#flowHeader = ir.fairness?.header;
    this.#deadline = ir.deadline;
  }

  /** Names of the classes, highest first (one unnamed class when the policy has none). */
  get classNames(): readonly string[] {
    return this.#classes.length === 0 ? [''] : this.#classes.map((c) => c.name);
  }

  /** The class index of a class name, or undefined (async jobs keep their class by name). */
  classIndex(name: string): number | undefined {
    if (this.#classes.length === 0) return name === '' ? 0 : undefined;
    const i = this.#classes.findIndex((c) => c.name === name);
    return i >= 0 ? i : undefined;
  }

  classify(r: QueueRequest): Classified {
    for (const [name, values] of this.#selectors) {
      const v = r.header(name);
      if (v !== undefined && !values.has(v.trim()))
        return {
          ok: false,
          problem: 'unknown-priority-class',
          detail: `${name}: ${JSON.stringify(v.slice(0, 64))} names no priority class of this route (known: ${[...values].sort().join(', ')}).`,
        };
    }
    let cls = -1;
    for (let i = 0; i < this.#classes.length && cls < 0; i++) {
      const c = this.#classes[i] as CompiledClass;
      if (
        (r.tenant !== undefined && c.tenants.has(r.tenant)) ||
        (r.user !== undefined && c.users.has(r.user)) ||
        (c.header !== undefined && c.header.values.has((r.header(c.header.name) ?? '').trim())) ||
        (c.claim !== undefined && c.claim.values.has(r.claim(c.claim.name) ?? '\u0000'))
      )
        cls = i;
    }
    if (cls < 0) cls = this.#defaultClass;

    let deadlineMs = this.#deadline.defaultMs;
    const asked = this.#deadline.header ? r.header(this.#deadline.header) : undefined;
    if (asked !== undefined) {
      const n = /^\s*\d{1,12}\s*$/.test(asked) ? Number(asked) : NaN;
      if (!(n >= 1))
        return {
          ok: false,
          problem: 'invalid-deadline',
          detail: `${this.#deadline.header}: expected a deadline in milliseconds from 1 to ${this.#deadline.maxMs}, got ${JSON.stringify(asked.slice(0, 64))}.`,
        };
      deadlineMs = Math.min(n, this.#deadline.maxMs);
    }
    return { ok: true, cls, flow: this.#flow(r), deadlineMs };
  }

  #flow(r: QueueRequest): string {
    let v: string | undefined;
    switch (this.#flowKey) {
      case undefined:
        return '';
      case 'Tenant':
        v = r.tenant;
        break;
      case 'User':
        v = r.user;
        break;
      case 'ClientIP':
        v = r.clientIp;
        break;
      case 'Header':
        v = this.#flowHeader ? r.header(this.#flowHeader) : undefined;
        break;
    }
    if (v === undefined) return '';
    return v.length > MAX_FLOW ? v.slice(0, MAX_FLOW) : v;
  }
}
