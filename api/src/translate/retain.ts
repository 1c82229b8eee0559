/**
 * An invalid change must not take down what was serving. The translator on its own drops an object
 * that is rejected in itself (an HTTPRoute whose pattern RE2 cannot compile, a policy that is
 * Invalid, an object that does not parse), so a broken edit of a live route would silently remove
 * it. LastAccepted remembers, per object (API group, kind, namespace, name), the last version that
 * was not rejected in itself; when a new version is, the translation is run again with the
 * remembered version in its place, and the result says so:
 *
 * - the status of the new version still says why it was rejected (the HTTPRoute's Accepted=False
 *   UnsupportedValue, the policy's Invalid), with `generation N keeps serving` added;
 * - `retained` lists every object served from a remembered version, with `fresh` true the first
 *   time a rejected version is seen, so a caller logs and counts each rejected change once.
 *
 * Memory: one entry per object of the last input (a reference to the object, not a copy); an
 * object that leaves the input (deleted) is forgotten. An object that has never been accepted has
 * nothing to fall back on and is left out, as before. Rejections that depend on other objects
 * (a missing target, a conflict, a listener that does not allow the route) are not "in itself":
 * those objects are valid and translated as they are.
 */
import { createHash } from 'node:crypto';
import { comparePolicyRefs, compareStrings } from '../ir/order.js';
import { GROUP } from '../schema/kinds.js';
import { isObject } from '../validate/schema-node.js';
import { GATEWAY_API_GROUP } from './parse/httproute.js';
import type { PolicyResult, RouteParentResult, TranslateResult } from './result.js';
import { translate, type TranslateOptions, type TranslatorInput } from './translate.js';

export interface RetainedObject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** metadata.generation of the rejected version (0 when it has none, as in files). */
  readonly generation: number;
  /** metadata.generation of the version that keeps serving. */
  readonly servingGeneration: number;
  /** Why the new version was rejected: `<field>: <message>`. */
  readonly reason: string;
  /** True the first time this rejected version is seen (log it and count it then). */
  readonly fresh: boolean;
}

export interface RetainingResult extends TranslateResult {
  /** Objects served from their last accepted version because the current one is rejected. */
  readonly retained: readonly RetainedObject[];
}

interface Identity {
  readonly key: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
}

const objectKey = (group: string, kind: string, namespace: string, name: string) => `${group}\n${kind}\n${namespace}\n${name}`;

function identify(obj: unknown, defaultNamespace: string): Identity | undefined {
  if (!isObject(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return undefined;
  const meta = isObject(obj.metadata) ? obj.metadata : undefined;
  if (!meta || typeof meta.name !== 'string' || meta.name === '') return undefined;
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : defaultNamespace;
  const slash = obj.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : obj.apiVersion.slice(0, slash);
  const generation = typeof meta.generation === 'number' && Number.isSafeInteger(meta.generation) ? meta.generation : 0;
  return { key: objectKey(group, obj.kind, namespace, meta.name), kind: obj.kind, namespace, name: meta.name, generation };
}

/** Identifies one version of an object: its generation where the apiserver keeps one, else its content. */
function fingerprint(obj: unknown, id: Identity): string {
  if (id.generation > 0) return `g${id.generation}`;
  return `h${createHash('sha256').update(JSON.stringify(obj)).digest('base64url')}`;
}

/** Objects of the result rejected in themselves, by key, with the first reason given for each. */
function rejectedInThemselves(result: TranslateResult, ids: readonly (Identity | undefined)[]): Map<string, string> {
  const out = new Map<string, string>();
  const note = (key: string, reason: string) => {
    if (!out.has(key)) out.set(key, reason);
  };
  for (const p of result.problems) {
    const id = ids[p.index];
    if (id) note(id.key, `${p.path ? `${p.path}: ` : ''}${p.message}`);
  }
  for (const p of result.policies)
    if (p.accepted.reason === 'Invalid')
      note(objectKey(GROUP, p.ref.kind, p.ref.namespace, p.ref.name), p.accepted.message.replace(/^invalid: /, ''));
  for (const r of result.routes)
    if (r.accepted.reason === 'UnsupportedValue')
      note(objectKey(GATEWAY_API_GROUP, 'HTTPRoute', r.route.namespace, r.route.name), r.accepted.message);
  return out;
}

interface Remembered {
  readonly object: unknown;
  readonly generation: number;
}

export class LastAccepted {
  readonly #accepted = new Map<string, Remembered>();
  /** Fingerprint of the rejected version last reported per key, so each is reported fresh once. */
  readonly #reported = new Map<string, string>();

  /** Objects remembered (at most the number of objects in the last input). */
  get size(): number {
    return this.#accepted.size;
  }

  /** Translates `input`, serving the last accepted version of every object whose current version is rejected in itself. */
  translate(input: TranslatorInput, options: TranslateOptions): RetainingResult {
    const defaultNamespace = input.defaultNamespace ?? 'default';
    const ids = input.objects.map((o) => identify(o, defaultNamespace));
    const first = translate(input, options);
    const rejected = rejectedInThemselves(first, ids);

    const substituted = new Map<number, Remembered>();
    const objects = input.objects.map((obj, i) => {
      const id = ids[i];
      const kept = id && rejected.has(id.key) ? this.#accepted.get(id.key) : undefined;
      if (!kept || kept.object === obj) return obj;
      substituted.set(i, kept);
      return kept.object;
    });
    const final = substituted.size === 0 ? first : translate({ ...input, objects }, options);

    // Remember what was accepted in itself this time; forget what left the input.
    const stillRejected = substituted.size === 0 ? rejected : rejectedInThemselves(final, ids);
    const present = new Set<string>();
    objects.forEach((obj, i) => {
      const id = ids[i];
      if (!id) return;
      present.add(id.key);
      if (!substituted.has(i) && !stillRejected.has(id.key)) this.#accepted.set(id.key, { object: obj, generation: id.generation });
    });
    for (const key of this.#accepted.keys()) if (!present.has(key)) this.#accepted.delete(key);

    if (substituted.size === 0) {
      for (const key of this.#reported.keys()) if (!rejected.has(key)) this.#reported.delete(key);
      return { ...first, retained: [] };
    }

    const retained: RetainedObject[] = [];
    const byKey = new Map<string, RetainedObject>();
    for (const [i, kept] of substituted) {
      const id = ids[i]!;
      const print = fingerprint(input.objects[i], id);
      const fresh = this.#reported.get(id.key) !== print;
      this.#reported.set(id.key, print);
      const r: RetainedObject = {
        kind: id.kind,
        namespace: id.namespace,
        name: id.name,
        generation: id.generation,
        servingGeneration: kept.generation,
        reason: rejected.get(id.key)!,
        fresh,
      };
      retained.push(r);
      byKey.set(id.key, r);
    }
    for (const key of this.#reported.keys()) if (!byKey.has(key) && !rejected.has(key)) this.#reported.delete(key);
    retained.sort((a, b) => compareStrings(a.kind, b.kind) || compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));

    return { ...final, routes: routeStatus(first, final, byKey), policies: policyStatus(first, final, byKey), retained };
  }
}

const serving = (r: RetainedObject) =>
  r.servingGeneration > 0 ? `; generation ${r.servingGeneration} keeps serving` : '; the previous version keeps serving';

/** Route status: a retained route reports its rejected version (with what keeps serving); every other route as translated. */
function routeStatus(first: TranslateResult, final: TranslateResult, retained: ReadonlyMap<string, RetainedObject>): RouteParentResult[] {
  const routeKey = (r: RouteParentResult) => objectKey(GATEWAY_API_GROUP, 'HTTPRoute', r.route.namespace, r.route.name);
  const out = final.routes.filter((r) => !retained.has(routeKey(r)));
  const done = new Set<string>();
  for (const r of first.routes) {
    const kept = retained.get(routeKey(r));
    if (!kept) continue;
    done.add(routeKey(r));
    out.push({ ...r, accepted: { ...r.accepted, message: r.accepted.message + serving(kept) } });
  }
  // A route whose new version did not even parse has no parent status of its own: its parents
  // are those of the version that keeps serving, its generation the rejected one.
  for (const r of final.routes) {
    const kept = retained.get(routeKey(r));
    if (!kept || done.has(routeKey(r))) continue;
    out.push({
      ...r,
      route: { ...r.route, generation: kept.generation },
      accepted: { status: false, reason: 'UnsupportedValue', message: kept.reason + serving(kept) },
    });
  }
  return out.sort((a, b) => compareStrings(a.route.namespace, b.route.namespace) || compareStrings(a.route.name, b.route.name));
}

/** Policy status: a retained policy reports its rejected version as Invalid (with what keeps serving). */
function policyStatus(first: TranslateResult, final: TranslateResult, retained: ReadonlyMap<string, RetainedObject>): PolicyResult[] {
  const policyKey = (p: PolicyResult) => objectKey(GROUP, p.ref.kind, p.ref.namespace, p.ref.name);
  const out = final.policies.filter((p) => !retained.has(policyKey(p)));
  for (const p of first.policies) {
    const kept = retained.get(policyKey(p));
    if (kept) out.push({ ...p, accepted: { ...p.accepted, message: p.accepted.message + serving(kept) } });
  }
  return out.sort((a, b) => comparePolicyRefs(a.ref, b.ref));
}
