/**
 * JWT verification with jose: the token's `iss` picks the provider (with one provider, that one);
 * then the signature by one of the provider's keys, `iss`, `aud`, `exp` and `nbf` against the
 * injected clock (jose's `currentDate`), and a refusal of `alg: none` and of algorithms not
 * configured before any key is looked at. A verified token is remembered in a bounded LRU keyed by
 * the token's SHA-256, until it expires or its provider's keys change — a client reusing its token
 * costs one hash.
 */
import { hash } from 'node:crypto';
import { type JWTPayload, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JwtProviderIR } from '@jarvis/api';
import type { Clock } from '../clock.js';
import { checkId, isIdError } from './ids.js';
import type { KeySource } from './keysource.js';
import { Lru } from './lru.js';
import { type IdentityProblem, badIdentity, invalidToken, keysUnavailable } from './problems.js';

/** What a verified token says, without the per-request client address. */
export interface TokenIdentity {
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The provider that verified it. */
  readonly provider: string;
}

interface CacheEntry {
  readonly result: TokenIdentity | IdentityProblem;
  /** Usable while notBeforeMs ≤ now < untilMs (the token's nbf/exp with the tolerance)… */
  readonly notBeforeMs: number;
  readonly untilMs: number;
  /** …and while its provider's keys are the ones it was verified with. */
  readonly provider: Provider;
  readonly keysVersion: number;
}

interface Provider {
  readonly config: JwtProviderIR;
  readonly keys: KeySource;
}

export interface JwtVerifierSettings {
  /** Verified tokens remembered (all providers together). */
  readonly cacheSize: number;
  readonly maxTokenLength: number;
  readonly maxIdLength: number;
}

export class JwtVerifier {
  readonly #providers: readonly Provider[];
  readonly #byIssuer: ReadonlyMap<string, Provider>;
  readonly #settings: JwtVerifierSettings;
  readonly #clock: Clock;
  readonly #cache: Lru<string, CacheEntry>;

  constructor(providers: readonly { config: JwtProviderIR; keys: KeySource }[], settings: JwtVerifierSettings, clock: Clock) {
    this.#providers = providers;
    this.#byIssuer = new Map(providers.map((p) => [p.config.issuer, p]));
    this.#settings = settings;
    this.#clock = clock;
    this.#cache = new Lru(settings.cacheSize);
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Verifies a token; a cache hit answers synchronously. */
  verify(token: string): TokenIdentity | IdentityProblem | Promise<TokenIdentity | IdentityProblem> {
    if (token.length > this.#settings.maxTokenLength)
      return invalidToken(`the token is longer than ${this.#settings.maxTokenLength} characters`);
    const digest = hash('sha256', token, 'base64url');
    const hit = this.#cache.get(digest);
    if (hit) {
      const now = this.#clock.now();
      if (now >= hit.notBeforeMs && now < hit.untilMs && hit.keysVersion === hit.provider.keys.version) return hit.result;
      this.#cache.delete(digest);
    }
    return this.#verifySlow(token, digest);
  }

  /** The provider of a token: the only one, or the one of its (unverified) `iss`. */
  #providerOf(token: string): Provider | IdentityProblem {
    if (this.#providers.length === 1) return this.#providers[0]!;
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return invalidToken('the token is not a well-formed JWT (three base64url parts with a JSON header and payload)');
    }
    if (typeof iss !== 'string') return invalidToken('the token has no "iss" claim');
    return this.#byIssuer.get(iss) ?? invalidToken(`the token's issuer "${iss.slice(0, 128)}" is not accepted`);
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
    const provider = this.#providerOf(token);
    if ('status' in provider) return provider;
    const config = provider.config;
    if (!config.algorithms.some((a) => a === alg)) {
      return invalidToken(`the token's algorithm "${alg.slice(0, 20)}" is not allowed (allowed: ${config.algorithms.join(', ')})`);
    }
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const keysVersion = provider.keys.version;
    let keys = provider.keys.keys();
    if ('unavailable' in keys) return keysUnavailable(keys.unavailable);
    const fits = (list: typeof keys) =>
      'unavailable' in list ? [] : list.filter((k) => k.algorithms.has(alg) && (kid === undefined || k.kid === undefined || k.kid === kid));
    let candidates = fits(keys);
    // A key id the provider's document lacks: it may have rotated since it was fetched.
    if (candidates.length === 0 && provider.keys.refresh && (await provider.keys.refresh())) {
      keys = provider.keys.keys();
      candidates = fits(keys);
    }
    if (candidates.length === 0) {
      return invalidToken(
        kid === undefined ? `no configured key verifies ${alg}` : `no configured key has kid "${kid.slice(0, 64)}" for ${alg}`,
      );
    }

    const now = this.#clock.now();
    const options = {
      issuer: config.issuer,
      audience: [...config.audiences],
      algorithms: [alg],
      clockTolerance: config.clockToleranceMs / 1000,
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
    if (!payload) return invalidToken(describeFailure(failure, config));

    const result = this.#identityOf(payload, config);
    const expMs = (payload.exp ?? 0) * 1000;
    const nbfMs = typeof payload.nbf === 'number' ? payload.nbf * 1000 : -Infinity;
    this.#cache.set(digest, {
      result,
      notBeforeMs: nbfMs - config.clockToleranceMs,
      untilMs: expMs + config.clockToleranceMs,
      provider,
      keysVersion,
    });
    return result;
  }

  #identityOf(payload: JWTPayload, config: JwtProviderIR): TokenIdentity | IdentityProblem {
    const tenant = claimValue(payload, config.tenantClaim, this.#settings.maxIdLength);
    if (typeof tenant === 'object') return tenant;
    const user = claimValue(payload, config.userClaim, this.#settings.maxIdLength);
    if (typeof user === 'object') return user;
    return { tenant, user, claims: Object.freeze(payload), provider: config.name };
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

function describeFailure(err: unknown, config: JwtProviderIR): string {
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
