import { describe, expect, it } from 'vitest';
import { ApiKeyFileError, ApiKeyStore, hashApiKey, parseApiKeyFile } from './apikeys.js';

const KEY = 'jv_live_6f1d0c2e9b7a4c3d8e5f';

function refusal(text: string): ApiKeyFileError {
  try {
    parseApiKeyFile(text, 32);
  } catch (err) {
    if (err instanceof ApiKeyFileError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('API key file', () => {
  it('hashes like sha256sum', () => {
    expect(hashApiKey('foo')).toBe('2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae');
  });

  it('parses entries and finds a key by its hash', () => {
    const entries = parseApiKeyFile(
      `keys:
  - sha256: ${hashApiKey(KEY).toUpperCase()}
    tenant: acme
    user: ingest-bot
    name: acme-ingest
    expiresAt: 2030-01-01T00:00:00Z
    claims: { plan: gold }
  - sha256: ${hashApiKey('other')}
    user: Cafe\u0301
`,
      32,
    );
    const store = new ApiKeyStore(entries);
    expect(store.size).toBe(2);
    expect(store.lookup(KEY)).toMatchObject({
      tenant: 'acme',
      user: 'ingest-bot',
      name: 'acme-ingest',
      expiresAtMs: Date.UTC(2030, 0, 1),
      claims: { plan: 'gold' },
    });
    expect(store.lookup('other')).toMatchObject({ tenant: undefined, user: 'Caf\u00e9' });
    expect(store.lookup(KEY + 'x')).toBeUndefined();
    expect(store.lookup('')).toBeUndefined();
    expect(Object.isFrozen(store.lookup(KEY)?.claims)).toBe(true);
  });

  it('accepts JSON too', () => {
    const entries = parseApiKeyFile(
      JSON.stringify({ keys: [{ sha256: hashApiKey(KEY), tenant: 't', expiresAt: '2030-01-01T00:00:00Z' }] }),
      32,
    );
    expect(new ApiKeyStore(entries).lookup(KEY)?.tenant).toBe('t');
  });

  it('names what is wrong', () => {
    const h = hashApiKey(KEY);
    const cases: [string, string, RegExp][] = [
      ['keys: [', '', /not valid YAML/],
      ['- a', '', /"keys" list/],
      ['keys: {}', 'keys', /must be a list/],
      ['keys: []\nextra: 1', 'extra', /unknown field/],
      [`keys:\n  - key: ${KEY}\n    tenant: a`, 'keys[0].key', /plaintext keys are not accepted/],
      [`keys:\n  - sha256: abc\n    tenant: a`, 'keys[0].sha256', /64 hex/],
      [`keys:\n  - tenant: a`, 'keys[0].sha256', /64 hex/],
      [`keys:\n  - sha256: ${h}\n    tenant: a\n  - sha256: ${h}\n    tenant: b`, 'keys[1].sha256', /twice/],
      [`keys:\n  - sha256: ${h}`, 'keys[0]', /needs a tenant or a user/],
      [`keys:\n  - sha256: ${h}\n    tenant: "a\\u0000b"`, 'keys[0].tenant', /U\+0000/],
      [`keys:\n  - sha256: ${h}\n    tenant: ${'x'.repeat(33)}`, 'keys[0].tenant', /longer than 32/],
      [`keys:\n  - sha256: ${h}\n    tenant: 5`, 'keys[0].tenant', /must be a string/],
      [`keys:\n  - sha256: ${h}\n    tenant: a\n    expiresAt: soon`, 'keys[0].expiresAt', /RFC 3339/],
      [`keys:\n  - sha256: ${h}\n    tenant: a\n    claims: [1]`, 'keys[0].claims', /must be a map/],
      [`keys:\n  - sha256: ${h}\n    tenant: a\n    plan: gold`, 'keys[0].plan', /unknown field/],
    ];
    for (const [text, field, reason] of cases) {
      const err = refusal(text);
      expect(err.field, text).toBe(field);
      expect(err.message, text).toMatch(reason);
      expect(err.message).not.toContain(KEY);
    }
  });
});
