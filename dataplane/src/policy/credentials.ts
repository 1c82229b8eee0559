/**
 * Credentials never leave a request in the clear. A rate-limit level scoped by a header, or a
 * hot-key parameter watching a header or query parameter, may name a credential (an API key, a
 * bearer token, a session cookie); its values would otherwise become Redis key names, a
 * `jarvis_gateway_hotkey_share` label, `/admin/hotkeys` lines and log fields. Values of such a
 * name are replaced where keys and hot values are made (ratelimit/keys.ts, hotspot/guard.ts) by a
 * digest, and nothing downstream sees them.
 *
 * Credential-like: `authorization`, `proxy-authorization`, `cookie`, `x-api-key`, and every name
 * containing key, token, secret, auth, passw, pwd, cookie, session, credential, signature or
 * bearer (case-insensitive; so `x-api-key-id` and `api_key` count too — a false positive only
 * costs readability).
 *
 * Digest: the first 22 base64url characters (132 bits) of SHA-256 over the value's UTF-8 bytes.
 * It is unkeyed on purpose: every replica, and every restart, counts the same credential under the
 * same Redis key with nothing to distribute or rotate, and an operator holding a key can find its
 * line (`printf %s "$KEY" | openssl dgst -sha256 -binary | basenc --base64url | cut -c1-22`). The
 * price: someone who can read Redis or the metrics can test guesses of a low-entropy secret (a
 * password in Basic auth); random API keys and tokens are out of reach.
 */
import { createHash } from 'node:crypto';

const CREDENTIAL_NAME = /key|token|secret|auth|passw|pwd|cookie|session|credential|signature|bearer/i;

/** Whether values of this header or query parameter name are treated as credentials. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/** The digest a credential is known by outside the request (22 base64url characters). */
export function credentialDigest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}
