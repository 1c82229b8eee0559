import { describe, expect, it } from 'vitest';
import { FlagError, parseGatewayFlags } from './flags.js';

const parse = (argv: string[], env: Record<string, string> = {}) => parseGatewayFlags(argv, env, 'host', 7);

describe('gateway flags', () => {
  it('has the documented defaults in standalone mode', () => {
    expect(parse(['--config', '/etc/jarvis'])).toMatchObject({
      listen: { host: '0.0.0.0', port: 8080 },
      adminListen: { host: '127.0.0.1', port: 9901 },
      mode: { kind: 'files', dir: '/etc/jarvis' },
      redis: undefined,
      nodeId: 'host-7',
      maxBodyBytes: 10 * 1024 * 1024,
      drainTimeoutMs: 10_000,
      redisMaxBatch: 256,
      redisTimeoutMs: 200,
    });
  });

  it('bounds the Redis wait from 1 ms to 10 s', () => {
    expect(parse(['--config', 'd', '--redis-timeout', '5s'])).toMatchObject({ redisTimeoutMs: 5000 });
    expect(parse(['--config', 'd', '--redis-timeout', '1ms'])).toMatchObject({ redisTimeoutMs: 1 });
    expect(() => parse(['--config', 'd', '--redis-timeout', '0ms'])).toThrow(/--redis-timeout: expected from 1ms to 10s/);
    expect(() => parse(['--config', 'd', '--redis-timeout', '11s'])).toThrow(/--redis-timeout/);
    expect(() => parse(['--config', 'd', '--redis-timeout', 'fast'])).toThrow(/--redis-timeout/);
  });

  it('never echoes a Redis URL it refuses: the password stays out of the message', () => {
    for (const bad of ['http://:s3cret@x', 'redis://:s3cret@127.0.0.1:99999', 'redis://u:s3cret@[zz']) {
      let message = '';
      try {
        parse(['--config', 'd', '--redis', bad]);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^--redis: expected redis:\/\/\[USER:PASSWORD@\]HOST:PORT, got ".*\*\*\*@/);
      expect(message).not.toContain('s3cret');
    }
    expect(() => parse(['--config', 'd'], { REDIS_URL: 'redis://:s3cret@h:1:2' })).toThrow(/^(?!.*s3cret)/);
  });

  it('takes Redis from --redis or REDIS_URL, and treats an empty REDIS_URL as unset', () => {
    expect(parse(['--config', 'd'], { REDIS_URL: 'redis://r:6379' }).valueOf()).toMatchObject({ redis: 'redis://r:6379' });
    expect(parse(['--config', 'd'], { REDIS_URL: '' })).toMatchObject({ redis: undefined });
  });

  it('needs exactly one config source, and a Gateway with --xds', () => {
    expect(() => parse([])).toThrow(/exactly one of --xds and --config/);
    expect(() => parse(['--config', 'd', '--xds', 'h:1'])).toThrow(FlagError);
    expect(() => parse(['--xds', '127.0.0.1:18000'])).toThrow(/--xds needs --gateway/);
    expect(parse(['--xds', '127.0.0.1:18000', '--gateway', 'jarvis/edge'])).toMatchObject({
      mode: { kind: 'xds', target: '127.0.0.1:18000' },
      gateway: 'jarvis/edge',
    });
    expect(() => parse(['--config', 'd', '--gateway', 'no-slash'])).toThrow(/NAMESPACE\/NAME/);
  });

  it('rejects bad values naming the flag', () => {
    expect(() => parse(['--config', 'd', '--redis', 'http://x'])).toThrow(/--redis/);
    expect(() => parse(['--config', 'd', '--max-body-bytes', '-1'])).toThrow(/--max-body-bytes/);
    expect(() => parse(['--config', 'd', '--drain-timeout', 'soon'])).toThrow(/--drain-timeout/);
    expect(() => parse(['--config', 'd', '--xds-tls-cert', 'c'])).toThrow(/go together/);
    expect(() => parse(['--nope'])).toThrow(/unknown flag/);
  });
});
