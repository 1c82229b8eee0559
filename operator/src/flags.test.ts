import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags, parseHostPort } from './flags.js';

const parse = (argv: string[], env: Record<string, string> = {}) => parseFlags(argv, env, 'host', 42);

describe('operator flags', () => {
  it('has the documented defaults', () => {
    expect(parse([])).toMatchObject({
      kubeconfig: undefined,
      xdsListen: { host: '0.0.0.0', port: 18000 },
      healthListen: { host: '0.0.0.0', port: 8081 },
      leaseName: 'jarvis-operator',
      leaseNamespace: 'default',
      leaseDurationMs: 15000,
      identity: 'host-42',
      controllerName: 'stability.jarvis.io/gateway-controller',
      xdsTls: undefined,
    });
  });

  it('takes --flag value and --flag=value', () => {
    expect(parse(['--kubeconfig', '/k', '--xds-listen=127.0.0.1:0', '--namespace', 'jarvis', '--lease-duration=4s'])).toMatchObject({
      kubeconfig: '/k',
      xdsListen: { host: '127.0.0.1', port: 0 },
      namespace: 'jarvis',
      leaseNamespace: 'jarvis',
      leaseDurationMs: 4000,
    });
    expect(parseHostPort('[::1]:9000', 'x')).toEqual({ host: '::1', port: 9000 });
  });

  it('rejects what it cannot use, with the flag named', () => {
    expect(() => parse(['--xds-listen', 'localhost'])).toThrow(/--xds-listen: expected HOST:PORT/);
    expect(() => parse(['--xds-listen', 'h:70000'])).toThrow(FlagError);
    expect(() => parse(['--bogus'])).toThrow(/unknown flag/);
    expect(() => parse(['--namespace', 'Bad_NS'])).toThrow(/--namespace/);
    expect(() => parse(['--xds-tls-cert', 'c'])).toThrow(/go together/);
    expect(() => parse(['--lease-duration', '1s'])).toThrow(/at least 2s/);
    expect(() => parse(['--kubeconfig'])).toThrow(/needs a value/);
    expect(parse(['--help'])).toBe('help');
  });
});
