/**
 * The identity in force: the one a config carries (its Gateway's ClientIdentityPolicy, over xDS or
 * from a --config folder), else the gateway's own `--identity` file, else anonymous. A config
 * compiles its identifier beside the running one (a config that cannot be identified by is refused
 * whole) and puts it in force on commit; an unchanged identity keeps its identifier — its verified
 * tokens, watched files and fetched JWKS documents — across config updates.
 */
import { createHash } from 'node:crypto';
import type { IdentityIR } from '@jarvis/api';
import { createIdentifier, type Identifier, type IdentifierOptions } from './identifier.js';

export interface PendingIdentity {
  readonly identifier: Identifier;
  /** Where it comes from, for logs and /admin/config: `ClientIdentityPolicy ns/name`, `--identity FILE`, `anonymous`. */
  readonly source: string;
  /** False when it is the identifier already in force. */
  readonly changed: boolean;
  /** Puts it in force (and retires the previous one). */
  commit(): void;
  /** Drops it; the running identity is untouched. */
  abort(): void;
}

/** What compiling a config needs of identity. */
export interface IdentitySource {
  /** Throws (IdentityConfigError) when the identity cannot be used. */
  prepare(identity: IdentityIR | undefined): PendingIdentity;
}

export class IdentityHolder implements IdentitySource {
  readonly #fallback: IdentityIR;
  readonly #fallbackSource: string;
  readonly #options: IdentifierOptions;
  #current: { readonly key: string; readonly identifier: Identifier; readonly source: string } | undefined;

  /**
   * `fallback`: the --identity file's (labelled `fallbackSource`), or anonymous. Pass `options.jwks`
   * so that fetched JWKS documents outlive an identity change that keeps their URL.
   */
  constructor(fallback: IdentityIR, fallbackSource: string, options: IdentifierOptions) {
    this.#fallback = fallback;
    this.#fallbackSource = fallbackSource;
    this.#options = options;
  }

  /** The identity in force, if a config has been committed. */
  get current(): { readonly identifier: Identifier; readonly source: string } | undefined {
    return this.#current;
  }

  prepare(identity: IdentityIR | undefined): PendingIdentity {
    const effective = identity ?? this.#fallback;
    const source = identity?.source
      ? `ClientIdentityPolicy ${identity.source.namespace}/${identity.source.name}`
      : identity
        ? 'config'
        : this.#fallbackSource;
    const key = createHash('sha256').update(JSON.stringify(effective)).digest('base64url');
    const current = this.#current;
    if (current?.key === key)
      return { identifier: current.identifier, source, changed: false, commit: () => undefined, abort: () => undefined };
    const identifier = createIdentifier(effective, this.#options);
    let settled = false;
    return {
      identifier,
      source,
      changed: true,
      commit: () => {
        if (settled) return;
        settled = true;
        this.#current = { key, identifier, source };
        current?.identifier.close();
      },
      abort: () => {
        if (settled) return;
        settled = true;
        identifier.close();
      },
    };
  }

  /** Re-reads key files and fetches JWKS documents of the identity in force (SIGHUP). */
  async reload(): Promise<void> {
    await this.#current?.identifier.reload();
  }

  close(): void {
    this.#current?.identifier.close();
    this.#current = undefined;
  }
}
