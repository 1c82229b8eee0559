/**
 * Who is calling: the first stage of the gateway's request path. Compiled once from the identity
 * of a config (IdentityIR: from the Gateway's ClientIdentityPolicy, or the gateway's --identity
 * file) — CIDRs parsed, keys imported, key files watched, JWKS URLs fetched — then per request:
 *
 * 1. client IP — the direct peer, or, when the peer is a trusted proxy, the first untrusted hop
 *    of the configured forwarding header; keyed by the IPv6 prefix;
 * 2. credentials — a JWT (if configured and sent), else an API key (if configured and sent);
 *    a credential that is sent but bad is refused, never skipped;
 * 3. trusted headers — `x-tenant-id` / `x-user-id` only when the direct peer is a trusted proxy;
 * 4. otherwise anonymous (refused when `jwt.required`).
 *
 * A request without credentials costs an address parse and a few header lookups.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { MAX_API_KEY_LENGTH, type IdentityIR } from '@jarvis/api';
import { type Clock, type Timers, systemTimers } from '../clock.js';
import { ApiKeyFileError, ApiKeyStore, apiKeyEntries, parseApiKeyFile } from './apikeys.js';
import { IdentityConfigError } from './config.js';
import { clientBehindProxies } from './forwarded.js';
import { countRaw, singleHeader } from './headers.js';
import { checkId, isIdError } from './ids.js';
import { CidrSet, type Cidr, type Ip, clientKey, formatIp, parseCidr, parseIp } from './ip.js';
import { JwtVerifier, type TokenIdentity } from './jwt.js';
import { KeyLoadError } from './keys.js';
import { type KeySource, keySource } from './keysource.js';
import {
  type IdentityProblem,
  badIdentity,
  credentialsRequired,
  duplicateHeader,
  invalidApiKey,
  invalidToken,
  isIdentityProblem,
} from './problems.js';
import { JwksRegistry, httpJwksFetch } from './remote.js';
import { type FileWatch, watchFiles } from './watch.js';

export interface Identity {
  /** The client's address as counted: IPv4 dotted, IPv6 canonical and cut to the prefix (`2001:db8::/64`). */
  readonly clientIp: string;
  readonly tenant?: string;
  readonly user?: string;
  /** JWT claims, or an API key entry's claims; empty otherwise. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly method: 'jwt' | 'apiKey' | 'trustedHeader' | 'anonymous';
  /** The direct peer's address (IPv4 dotted, IPv6 canonical), '' when unknown: the hop appended to X-Forwarded-For. */
  readonly peer: string;
  /** Whether the direct peer is a configured trusted proxy: only then do its forwarding headers reach the upstream. */
  readonly peerTrusted: boolean;
}

export interface IdentifyRequest {
  /** `req.socket.remoteAddress`. */
  readonly remoteAddress: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * `req.rawHeaders`: needed to see a repeated `Authorization` header, which node:http drops from
   * `headers`. Without it only repeats that node:http joins are caught.
   */
  readonly rawHeaders?: readonly string[];
}

export interface Identifier {
  /**
   * Synchronous unless a JWT has to be verified (a token seen before is answered from the
   * verifier's cache); a refusal is an IdentityProblem, not an exception.
   */
  identify(req: IdentifyRequest): Identity | IdentityProblem | Promise<Identity | IdentityProblem>;
  /**
   * Request headers that carry identity or the forwarding chain (lower case): the configured
   * trusted tenant/user headers and the forwarding header. The proxy never passes what a client
   * sent in them unless the peer is trusted (forwarding) — identity always comes from here.
   */
  readonly identityHeaders: readonly string[];
  /** Request headers that carry credentials (lower case): the JWT's, the API key's, and `authorization`. Never stored (job and dead-letter copies). */
  readonly credentialHeaders: readonly string[];
  /** Re-reads every key file (and fetches every JWKS URL) now (SIGHUP, tests); a bad one keeps the previous keys. */
  reload(): Promise<void>;
  /** Stops watching key files and lets go of fetched JWKS documents. */
  close(): void;
}

/** Structured logs (shape-compatible with the gateway's Logger). */
export interface IdentifyLog {
  warn(msg: string, fields?: Readonly<Record<string, string | number | boolean | undefined>>): void;
  info?(msg: string, fields?: Readonly<Record<string, string | number | boolean | undefined>>): void;
}

export interface IdentifierOptions {
  readonly clock: Clock;
  /** Monotonic time (the minimum gap between early JWKS fetches); defaults to `clock`. */
  readonly stopwatch?: Clock;
  /** Arms the key-file polling and JWKS refreshes; defaults to real (unref'd) timers. */
  readonly timers?: Timers;
  readonly log?: IdentifyLog;
  /** Fetched JWKS documents shared across configs; a private one when absent. */
  readonly jwks?: JwksRegistry;
}

const EMPTY_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});
const UNKNOWN_CLIENT = 'unknown';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Compiles the identity of a config. Throws IdentityConfigError (naming the field) when keys
 * delivered with it cannot be used, a key file cannot be read or holds no usable key, or an API
 * key's identity is not one a gateway can key by: such a config is refused, never half-applied.
 */
export function createIdentifier(config: IdentityIR, options: IdentifierOptions): Identifier {
  const { clock } = options;
  const timers = options.timers ?? systemTimers;
  const log = options.log ?? { warn: () => {} };
  const intervalMs = config.reloadIntervalMs;
  const jwks =
    options.jwks ??
    new JwksRegistry({
      fetch: httpJwksFetch(timers),
      timers,
      stopwatch: options.stopwatch ?? clock,
      log: { info: (m, f) => log.info?.(m, f), warn: (m, f) => log.warn(m, f) },
    });

  const cidrs: Cidr[] = config.trustedProxies.map((c, i) => {
    const parsed = parseCidr(c);
    if (!parsed) throw new IdentityConfigError(`trustedProxies[${i}]`, `'${c}' is not an IPv4 or IPv6 address or CIDR`);
    return parsed;
  });
  const trusted = new CidrSet(cidrs);
  const watches: FileWatch[] = [];
  const sources: KeySource[] = [];
  const closeAll = () => {
    for (const w of watches) w.close();
    for (const s of sources) s.close();
  };

  /** Re-read the API key files; on failure keep the previous keys and warn with `failure`. */
  let reloadApiKeys: ((failure: string) => Promise<void>) | undefined;
  let apiKeys: ApiKeyStore | undefined;

  // --- JWT ---
  const jwtConfig = config.jwt;
  let verifier: JwtVerifier | undefined;
  try {
    if (jwtConfig) {
      const providers = jwtConfig.providers.map((p, i) => {
        const field = `jwt.providers[${i}].keys`;
        try {
          const keys = keySource(p, field, {
            timers,
            reloadIntervalMs: intervalMs,
            jwks,
            warn: (m, f) => log.warn(m, f),
          });
          sources.push(keys);
          return { config: p, keys };
        } catch (err) {
          if (err instanceof KeyLoadError) throw new IdentityConfigError(err.field, err.message.slice(err.field.length + 2));
          throw err;
        }
      });
      verifier = new JwtVerifier(
        providers,
        { cacheSize: jwtConfig.cacheSize, maxTokenLength: jwtConfig.maxTokenLength, maxIdLength: config.maxIdLength },
        clock,
      );
    }

    // --- API keys ---
    const apiConfig = config.apiKeys;
    if (apiConfig) {
      let fixed;
      try {
        fixed = apiKeyEntries(apiConfig.keys, config.maxIdLength);
      } catch (err) {
        if (err instanceof ApiKeyFileError) throw new IdentityConfigError(`apiKeys.${err.field}`, err.message.slice(err.field.length + 2));
        throw err;
      }
      const files = apiConfig.files.map((file, i) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw new IdentityConfigError(
            apiConfig.files.length === 1 ? 'apiKeys.file' : `apiKeys.files[${i}]`,
            `cannot read ${file}: ${(err as Error).message}`,
          );
        }
        try {
          return parseApiKeyFile(text, config.maxIdLength);
        } catch (err) {
          throw new IdentityConfigError(
            apiConfig.files.length === 1 ? 'apiKeys.file' : `apiKeys.files[${i}]`,
            `${file}: ${(err as Error).message}`,
          );
        }
      });
      const store = new ApiKeyStore(fixed, files);
      apiKeys = store;
      const reloadFile = async (i: number, failure: string) => {
        const file = apiConfig.files[i]!;
        try {
          store.replaceFile(i, parseApiKeyFile(await readFile(file, 'utf8'), config.maxIdLength));
        } catch (err) {
          log.warn(`identity: API key file ${failure}; keeping the previous keys`, { file, error: (err as Error).message });
        }
      };
      reloadApiKeys = async (failure) => {
        for (let i = 0; i < apiConfig.files.length; i++) await reloadFile(i, failure);
      };
      apiConfig.files.forEach((file, i) =>
        watches.push(watchFiles([file], timers, intervalMs, () => reloadFile(i, 'changed but is invalid'))),
      );
    }
  } catch (err) {
    closeAll();
    throw err;
  }

  const jwtHeader = jwtConfig?.header.name;
  const jwtScheme = jwtConfig && jwtConfig.header.scheme !== '' ? jwtConfig.header.scheme : null;
  const jwtPrefixLength = jwtScheme === null ? 0 : jwtScheme.length + 1;
  const apiHeader = config.apiKeys?.header;
  const tenantHeader = config.trustedHeaders.tenant;
  const userHeader = config.trustedHeaders.user;
  const required = jwtConfig?.required ?? false;

  const fromToken = (
    clientIp: string,
    peer: string,
    peerTrusted: boolean,
    t: TokenIdentity | IdentityProblem,
  ): Identity | IdentityProblem =>
    isIdentityProblem(t) ? t : { clientIp, tenant: t.tenant, user: t.user, claims: t.claims, method: 'jwt', peer, peerTrusted };

  // The last peer seen, read once: a keep-alive connection (a load balancer's, a client's) sends
  // many requests from one address.
  let lastAddress: string | undefined;
  let lastPeer: Ip | undefined;
  let lastTrusted = false;
  let lastText = '';
  let lastClient = UNKNOWN_CLIENT;

  const identifyNow = (req: IdentifyRequest): Identity | IdentityProblem | Promise<Identity | IdentityProblem> => {
    const headers = req.headers;
    const address = req.remoteAddress;
    if (address !== lastAddress) {
      const ip = parseIp(address);
      lastPeer = ip;
      lastTrusted = ip !== undefined && trusted.size > 0 && trusted.has(ip);
      lastText = ip ? formatIp(ip) : '';
      lastClient = ip && !lastTrusted ? clientKey(ip, config.ipv6Prefix) : UNKNOWN_CLIENT;
      lastAddress = address;
    }
    const peer = lastPeer;
    const peerTrusted = lastTrusted;
    const peerText = lastText;
    let clientIp = lastClient;
    if (peer && peerTrusted) {
      const raw = headers[config.forwardedHeader];
      const header = raw === undefined || typeof raw === 'string' ? raw : raw.join(', ');
      clientIp = clientKey(clientBehindProxies(peer, header, config.forwardedHeader, trusted, config.maxForwardedHops), config.ipv6Prefix);
    }

    // Repeated Authorization is refused whether or not we verify it: the upstream would have to pick one.
    if (headers.authorization !== undefined && jwtHeader !== 'authorization' && req.rawHeaders) {
      const n = countRaw(req.rawHeaders, 'authorization');
      if (n > 1) return duplicateHeader('Authorization', n);
    }

    if (verifier && jwtHeader !== undefined) {
      const value = singleHeader(headers, req.rawHeaders, jwtHeader);
      if (typeof value === 'number') return duplicateHeader(jwtHeader === 'authorization' ? 'Authorization' : jwtHeader, value);
      if (value !== undefined) {
        if (jwtScheme !== null) {
          const space = value.indexOf(' ');
          if (space !== jwtScheme.length || value.slice(0, space).toLowerCase() !== jwtScheme.toLowerCase()) {
            return invalidToken(`expected "${jwtHeader}: ${jwtScheme} <token>"`);
          }
        }
        const token = value.slice(jwtPrefixLength).trim();
        if (token.length === 0) return invalidToken('the token is empty');
        const verified = verifier.verify(token);
        return verified instanceof Promise
          ? verified.then((t) => fromToken(clientIp, peerText, peerTrusted, t))
          : fromToken(clientIp, peerText, peerTrusted, verified);
      }
    }

    if (apiKeys && apiHeader !== undefined) {
      const value = singleHeader(headers, req.rawHeaders, apiHeader);
      if (typeof value === 'number') return duplicateHeader(apiHeader, value);
      if (value !== undefined) {
        if (value.length === 0 || value.length > MAX_API_KEY_LENGTH)
          return invalidApiKey(`the ${apiHeader} header must hold 1 to ${MAX_API_KEY_LENGTH} characters`);
        const entry = apiKeys.lookup(value);
        if (!entry) return invalidApiKey(`the key in ${apiHeader} is not known`);
        if (entry.expiresAtMs !== undefined && clock.now() >= entry.expiresAtMs)
          return invalidApiKey(`the key in ${apiHeader} has expired`);
        return {
          clientIp,
          tenant: entry.tenant,
          user: entry.user,
          claims: entry.claims,
          method: 'apiKey',
          peer: peerText,
          peerTrusted,
        };
      }
    }

    if (peerTrusted) {
      const tenant = trustedValue(headers, req.rawHeaders, tenantHeader, config.maxIdLength);
      if (typeof tenant === 'object') return tenant;
      const user = trustedValue(headers, req.rawHeaders, userHeader, config.maxIdLength);
      if (typeof user === 'object') return user;
      if (tenant !== undefined || user !== undefined)
        return { clientIp, tenant, user, claims: EMPTY_CLAIMS, method: 'trustedHeader', peer: peerText, peerTrusted };
    }

    if (required) {
      return credentialsRequired(
        `send ${jwtScheme === null ? `a token in ${jwtHeader ?? 'authorization'}` : `"${jwtHeader ?? 'authorization'}: ${jwtScheme} <token>"`}${apiHeader ? ` or an API key in ${apiHeader}` : ''}`,
      );
    }
    return { clientIp, tenant: undefined, user: undefined, claims: EMPTY_CLAIMS, method: 'anonymous', peer: peerText, peerTrusted };
  };

  return {
    identify: identifyNow,
    identityHeaders: [...new Set([tenantHeader, userHeader, config.forwardedHeader].map((h) => h.toLowerCase()))],
    credentialHeaders: [
      ...new Set(['authorization', jwtHeader, apiHeader].filter((h): h is string => h !== undefined).map((h) => h.toLowerCase())),
    ],
    async reload() {
      // A forced reload re-reads even when the files look unchanged.
      for (const source of sources) await source.reload?.();
      await reloadApiKeys?.('cannot be reloaded');
    },
    close: closeAll,
  };
}

/** A trusted identity header: absent, empty (absent), one checked value, or a problem. */
function trustedValue(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[] | undefined,
  name: string,
  max: number,
): string | undefined | IdentityProblem {
  const value = singleHeader(headers, rawHeaders, name);
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return duplicateHeader(name, value);
  // node:http decodes header bytes as latin1; a proxy sends UTF-8, so read the bytes back as UTF-8.
  let text = value;
  if (!isAscii(value)) {
    try {
      text = UTF8.decode(Buffer.from(value, 'latin1'));
    } catch {
      return badIdentity(`${name} is not valid UTF-8`);
    }
  }
  const checked = checkId(text, max);
  return isIdError(checked) ? badIdentity(`${name} ${checked.error}`) : checked;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
