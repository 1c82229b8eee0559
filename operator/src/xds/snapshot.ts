/**
 * Snapshots: for one gateway group, a consistent set of resources per type URL, with one version
 * per type URL. Built once when a config is set; streams only read them.
 */
import { createHash } from 'node:crypto';
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, type Any, type EncodedResources } from '@jarvis/api';

export interface SnapshotResource {
  readonly name: string;
  readonly resource: Any;
  /** sha256 of the Any's bytes: equal hashes = equal content. */
  readonly hash: string;
}

export interface TypeSnapshot {
  readonly version: string;
  /** By resource name. */
  readonly resources: ReadonlyMap<string, SnapshotResource>;
}

export interface Snapshot {
  /** By type URL. A type absent here is not served to the group (requests for it wait). */
  readonly types: ReadonlyMap<string, TypeSnapshot>;
}

export interface TypeInput {
  /** Default: derived from the content (equal content, equal version). */
  readonly version?: string;
  readonly resources: Iterable<readonly [string, Any]>;
}

function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A version derived from the names and hashes: `c-` + 16 hex digits. */
export function contentVersion(resources: ReadonlyMap<string, SnapshotResource>): string {
  const h = createHash('sha256');
  for (const name of [...resources.keys()].sort())
    h.update(name)
      .update('\0')
      .update(resources.get(name)?.hash ?? '')
      .update('\n');
  return `c-${h.digest('hex').slice(0, 16)}`;
}

/**
 * Builds a snapshot. Throws on an Any whose type URL differs from the type it is filed under, on
 * an empty name and on an empty version (programming errors of the caller, not of the network).
 */
export function makeSnapshot(types: Readonly<Record<string, TypeInput>>): Snapshot {
  const out = new Map<string, TypeSnapshot>();
  for (const [typeUrl, input] of Object.entries(types)) {
    const resources = new Map<string, SnapshotResource>();
    for (const [name, resource] of input.resources) {
      if (name === '') throw new Error(`${typeUrl}: empty resource name`);
      if (resource.type_url !== typeUrl) throw new Error(`${typeUrl}: resource "${name}" has type URL ${resource.type_url}`);
      resources.set(name, { name, resource, hash: hashBytes(resource.value) });
    }
    const version = input.version ?? contentVersion(resources);
    if (version === '') throw new Error(`${typeUrl}: empty version`);
    out.set(typeUrl, { version, resources });
  }
  return { types: out };
}

/**
 * A gateway group's snapshot from encoded IR resources: the named gateways (default: all) and the
 * named backends (default: all), each type versioned by its content unless versions are given.
 */
export function snapshotFromResources(
  encoded: EncodedResources,
  select: { readonly gateways?: Iterable<string>; readonly backends?: Iterable<string> } = {},
  versions: { readonly gateways?: string; readonly backends?: string } = {},
): Snapshot {
  const pick = (all: ReadonlyMap<string, Any>, names: Iterable<string> | undefined): [string, Any][] => {
    if (names === undefined) return [...all];
    const out: [string, Any][] = [];
    for (const n of names) {
      const a = all.get(n);
      if (a !== undefined) out.push([n, a]);
    }
    return out;
  };
  return makeSnapshot({
    [GATEWAY_TYPE_URL]: { version: versions.gateways, resources: pick(encoded.gateways, select.gateways) },
    [BACKEND_TYPE_URL]: { version: versions.backends, resources: pick(encoded.backends, select.backends) },
  });
}
