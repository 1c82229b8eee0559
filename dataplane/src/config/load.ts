/**
 * One load of a `--config` folder: read it (read.ts), parse every file through the bounded YAML
 * reader (alias bombs, deep nesting and oversized files are refused, naming the file), translate
 * with the shared translator — keeping the last accepted version of an object whose new version
 * is rejected in itself (translate/retain.ts) — and pick this gateway's config.
 *
 * A load fails as a whole (the gateway keeps what it serves) when a file cannot be read or parsed,
 * or when an object is rejected that has no earlier accepted version to fall back on: an Invalid
 * or Conflicted policy, an object that does not parse, an HTTPRoute that cannot be programmed.
 */
import { createHash } from 'node:crypto';
import {
  CONTROLLER_NAME,
  LastAccepted,
  YamlError,
  loadYamlDocuments,
  type BackendIR,
  type GatewayIR,
  type RetainedObject,
} from '@jarvis/api';
import { ConfigError, readConfigDir } from './read.js';
import type { GatewayConfig } from './types.js';

export { ConfigError } from './read.js';

export type LoadResult =
  | {
      readonly ok: true;
      /** Undefined when the config is the one the caller said it has (`unchangedFrom`). */
      readonly config: GatewayConfig | undefined;
      readonly version: string;
      readonly warnings: readonly string[];
      readonly retained: readonly RetainedObject[];
    }
  | { readonly ok: false; readonly error: string; readonly warnings: readonly string[]; readonly retained: readonly RetainedObject[] };

/** Loads one folder again and again, remembering the last accepted version of each object. */
export class ConfigLoader {
  readonly #lastAccepted = new LastAccepted();

  constructor(
    readonly dir: string,
    readonly gatewayId: string | undefined,
  ) {}

  async close(): Promise<void> {}

  /** Never throws for a bad folder: a load that fails says why. `unchangedFrom`: the version the caller serves. */
  async load(unchangedFrom?: string): Promise<LoadResult> {
    const warnings: string[] = [];
    try {
      const read = await readConfigDir(this.dir);
      warnings.push(...read.skipped);
      const objects: unknown[] = [];
      for (const file of read.files) {
        try {
          objects.push(...loadYamlDocuments(file.text));
        } catch (err) {
          if (err instanceof YamlError) throw new ConfigError(`${file.name}: ${err.message}`);
          throw err;
        }
      }
      const result = this.#lastAccepted.translate({ objects }, { controllerName: CONTROLLER_NAME });
      const retained = result.retained;
      const kept = new Set(retained.map((r) => `${r.kind}\n${r.namespace}\n${r.name}`));
      const isKept = (kind: string, namespace: string, name: string) => kept.has(`${kind}\n${namespace}\n${name}`);
      const problems = [
        ...result.problems.map((p) => `${p.kind ?? 'object'} ${p.namespace ?? ''}/${p.name ?? '?'}: ${p.path}: ${p.message}`),
        ...result.policies
          .filter((p) => !p.accepted.status && (p.accepted.reason === 'Invalid' || p.accepted.reason === 'Conflicted'))
          .filter((p) => !isKept(p.ref.kind, p.ref.namespace, p.ref.name))
          .map((p) => `${p.ref.kind} ${p.ref.namespace}/${p.ref.name}: ${p.accepted.reason}: ${p.accepted.message}`),
        ...[
          ...new Set(
            result.routes
              .filter((r) => r.accepted.reason === 'UnsupportedValue' && !isKept('HTTPRoute', r.route.namespace, r.route.name))
              .map((r) => `HTTPRoute ${r.route.namespace}/${r.route.name}: UnsupportedValue: ${r.accepted.message}`),
          ),
        ],
      ];
      if (problems.length > 0) return { ok: false, error: problems.join('\n'), warnings, retained };
      const config = this.#pick(result.ir.gateways, result.ir.backends, read.files.length);
      if (config.version === unchangedFrom) return { ok: true, config: undefined, version: config.version, warnings, retained };
      return { ok: true, config, version: config.version, warnings, retained };
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, error: err.message, warnings, retained: [] };
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string') return { ok: false, error: `${this.dir}: ${(err as Error).message}`, warnings, retained: [] };
      throw err;
    }
  }

  #pick(gateways: readonly GatewayIR[], all: readonly BackendIR[], files: number): GatewayConfig {
    const gatewayId = this.gatewayId;
    const gateway = gatewayId ? gateways.find((g) => g.id === gatewayId) : gateways.length === 1 ? gateways[0] : undefined;
    if (!gateway) {
      const ours = `a GatewayClass with controllerName ${CONTROLLER_NAME} and a Gateway of that class (see examples/01-gateway.yaml)`;
      const known = gateways.map((g) => g.id).join(', ');
      throw new ConfigError(
        gateways.length === 0
          ? `no Gateway of ours in ${this.dir} (${files} manifest file${files === 1 ? '' : 's'}): the folder needs ${ours}`
          : gatewayId
            ? `no Gateway ${gatewayId} of ours in ${this.dir} (it has ${known}): check --gateway NAMESPACE/NAME`
            : `${this.dir} has several Gateways of ours (${known}): pick one with --gateway NAMESPACE/NAME`,
      );
    }
    const used = new Set<string>();
    for (const r of gateway.routes) {
      for (const b of r.backends) used.add(b.backend);
      for (const s of r.degradation?.fallback?.chain ?? []) if (s.backend) used.add(s.backend);
    }
    const backends = all.filter((b) => used.has(b.id));
    const version = createHash('sha256').update(JSON.stringify({ gateway, backends })).digest('hex').slice(0, 16);
    return { gateway, backends, source: 'file', version: `file-${version}` };
  }
}

/** Reads and translates a folder once into one gateway's config; throws ConfigError when it cannot. */
export async function loadConfigDir(dir: string, gatewayId?: string): Promise<GatewayConfig> {
  const result = await new ConfigLoader(dir, gatewayId).load();
  if (!result.ok) throw new ConfigError(result.error);
  return result.config!;
}
