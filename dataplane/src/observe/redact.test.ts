import { describe, expect, it } from 'vitest';
import { redactSecrets, redactUrl } from './redact.js';

describe('redaction of connection secrets', () => {
  it('hides the user-info of a URL, parseable or not', () => {
    expect(redactUrl('redis://:s3cret@10.0.0.1:6379/0')).toBe('redis://***@10.0.0.1:6379/0');
    expect(redactUrl('rediss://default:p%40ss@redis.example:6380')).toBe('rediss://***@redis.example:6380');
    expect(redactUrl('http://user:s3cret@x')).toBe('http://***@x');
    expect(redactUrl('redis://:s3c ret@[zz')).toBe('redis://***@[zz');
    expect(redactUrl('rediss:/default:s3cret@host:6379')).toBe('rediss:/***@host:6379');
    expect(redactUrl('default:p@ss:word@host')).toBe('default:***@host');
    expect(redactUrl('//:s3cret@host')).toBe('***@host');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('removes the password from an error text, encoded or not', () => {
    const url = 'redis://default:p%40ssw0rd@10.0.0.1:6379';
    expect(redactSecrets('AUTH failed for default:p%40ssw0rd', url)).toBe('AUTH failed for ***');
    expect(redactSecrets('bad password p@ssw0rd given', url)).toBe('bad password *** given');
    expect(redactSecrets('connect ECONNREFUSED 10.0.0.1:6379', url)).toBe('connect ECONNREFUSED 10.0.0.1:6379');
    expect(redactSecrets('anything', undefined)).toBe('anything');
  });
});
