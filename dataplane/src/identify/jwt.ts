/**
 * JWT verification with jose: signature by a configured key, `iss`, `aud`, `exp` and `nbf` against
 * the injected clock (jose's `currentDate`), and a refusal of `alg: none` and of algorithms not
 * configured before any key is looked at. A verified token is remembered in a bounded LRU keyed
 * by the token's SHA-256, until it expires — a client reusing its token costs one hash.
 */
import { hash } from 'node:crypto';
import { type JWTPayload, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { Clock } from '../clock.js';
import type { JwtConfig } from './config.js';
import { checkId, isIdError } from './ids.js';
import type { VerifyKey } from './keys.js';
import { Lru } from './lru.js';
import { type IdentityProblem, badIdentity, invalidToken } from './problems.js';

/** What a verified token says, without the per-request client address. */
export interface TokenIdentity {
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
}

interface CacheEntry {
  readonly result: TokenIdentity | IdentityProblem;
  /** Usable while notBeforeMs ≤ now < untilMs (the token's nbf/exp with the tolerance). */
  readonly notBeforeMs: number;
  readonly untilMs: number;
}

export class JwtVerifier {
  readonly #config: JwtConfig;
  readonly #clock: Clock;
  readonly #maxIdLength: number;
  readonly #cache: Lru<string, CacheEntry>;
  readonly #toleranceMs: number;
  #keys: readonly VerifyKey[];

  constructor(config: JwtConfig, keys: readonly VerifyKey[], clock: Clock, maxIdLength: number) {
    this.#config = config;
    this.#keys = keys;
    this.#clock = clock;
    this.#maxIdLength = maxIdLength;
    this.#cache = new Lru(config.cacheSize);
    this.#toleranceMs = config.clockToleranceSec * 1000;
  }

  /** New keys (a rotation): tokens verified by a removed key must not live on in the cache. */
  setKeys(keys: readonly VerifyKey[]): void {
    this.#keys = keys;
    this.#cache.clear();
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Verifies a token; a cache hit answers synchronously. */
  verify(token: string): TokenIdentity | IdentityProblem | Promise<TokenIdentity | IdentityProblem> {
    if (token.length > this.#config.maxTokenLength)
      return invalidToken(`the token is longer than ${this.#config.maxTokenLength} characters`);
    const digest = hash('sha256', token, 'base64url');
    const hit = this.#cache.get(digest);
    if (hit) {
      const now = this.#clock.now();
      if (now >= hit.notBeforeMs && now < hit.untilMs) return hit.result;
      this.#cache.delete(digest);
    }
    return this.#verifySlow(token, digest);
  }

  async #verifySlow(token: string, digest: string): Promise<TokenIdentity | IdentityProblem> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalidToken('the token is not a well-formed JWT (three base64url parts with a JSON header)');
    }
    if (token.split('.').length !== 3) return invalidToken('the token is not a signed JWT (JWS compact form with three parts)');
    const alg = header.alg;
    if (typeof alg !== 'string') return invalidToken('the token header has no "alg"');
    if (alg.toLowerCase() === 'none') return invalidToken('unsigned tokens (alg "none") are not accepted');
    if (!this.#config.algorithms.some((a) => a === alg)) {
      return invalidToken(`the token's algorithm "${alg.slice(0, 20)}" is not allowed (allowed: ${this.#config.algorithms.join(', ')})`);
    }
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const candidates = this.#keys.filter((k) => k.algorithms.has(alg) && (kid === undefined || k.kid === undefined || k.kid === kid));
    if (candidates.length === 0) {
      return invalidToken(
        kid === undefined ? `no configured key verifies ${alg}` : `no configured key has kid "${kid.slice(0, 64)}" for ${alg}`,
      );
    }

    const now = this.#clock.now();
    const options = {
      issuer: this.#config.issuer,
      audience: [...this.#config.audiences],
      algorithms: [alg],
      clockTolerance: this.#config.clockToleranceSec,
      currentDate: new Date(now),
      requiredClaims: ['exp'],
    };
    let payload: JWTPayload | undefined;
    let failure: unknown;
    for (const candidate of candidates) {
      try {
        payload = (await jwtVerify(token, candidate.key, options)).payload;
        break;
      } catch (err) {
        failure = err;
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) break; // claims fail the same way under every key
      }
    }
    if (!payload) return invalidToken(describeFailure(failure, this.#config));

    const result = this.#identityOf(payload);
    const expMs = (payload.exp ?? 0) * 1000;
    const nbfMs = typeof payload.nbf === 'number' ? payload.nbf * 1000 : -Infinity;
    this.#cache.set(digest, { result, notBeforeMs: nbfMs - this.#toleranceMs, untilMs: expMs + this.#toleranceMs });
    return result;
  }

  #identityOf(payload: JWTPayload): TokenIdentity | IdentityProblem {
    const tenant = claimValue(payload, this.#config.tenantClaim, this.#maxIdLength);
    if (typeof tenant === 'object') return tenant;
    const user = claimValue(payload, this.#config.userClaim, this.#maxIdLength);
    if (typeof user === 'object') return user;
    return { tenant, user, claims: Object.freeze(payload) };
  }
}

/** A claim as an identity value: a string or an integer; absent is fine, anything else is not. */
function claimValue(payload: JWTPayload, claim: string, max: number): string | undefined | IdentityProblem {
  const raw = payload[claim];
  if (raw === undefined || raw === null) return undefined;
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (typeof raw === 'number' && Number.isSafeInteger(raw)) text = String(raw);
  else return badIdentity(`the token's "${claim}" claim must be a string, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  const checked = checkId(text, max);
  return isIdError(checked) ? badIdentity(`the token's "${claim}" claim ${checked.error}`) : checked;
}

function describeFailure(err: unknown, config: JwtConfig): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `the token has no "${err.claim}" claim`;
    switch (err.claim) {
      case 'iss':
        return `the token's issuer is not "${config.issuer}"`;
      case 'aud':
        return `the token's audience is none of ${config.audiences.map((a) => `"${a}"`).join(', ')}`;
      case 'nbf':
        return 'the token is not valid yet (nbf is in the future)';
      default:
        return `the token's "${err.claim}" claim is invalid`;
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify with any configured key';
  if (err instanceof errors.JOSEAlgNotAllowed) return "the token's algorithm is not allowed";
  if (err instanceof errors.JWTInvalid) return `the token's claims are malformed: ${err.message}`;
  if (err instanceof errors.JWSInvalid) return `the token is malformed: ${err.message}`;
  if (err instanceof errors.JOSEError) return `the token cannot be verified: ${err.message}`;
  return 'the token cannot be verified';
}
