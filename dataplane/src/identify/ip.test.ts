import { BlockList, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CidrSet, clientKey, formatIp, formatV6, parseCidr, parseIp } from './ip.js';

const fmt = (s: string): string | undefined => {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : undefined;
};

/** A small deterministic PRNG so the property tests are reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parseIp', () => {
  it('accepts dotted-quad IPv4 and nothing looser', () => {
    expect(fmt('192.0.2.1')).toBe('192.0.2.1');
    expect(fmt('0.0.0.0')).toBe('0.0.0.0');
    expect(fmt('255.255.255.255')).toBe('255.255.255.255');
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.256',
      '01.2.3.4',
      '1.2.3.04',
      '1..2.3',
      '1.2.3.',
      '.1.2.3',
      '0x7f.0.0.1',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '１.2.3.4',
      '4294967295',
      '1.2.3.-4',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('accepts IPv6 in every legal spelling and prints RFC 5952', () => {
    expect(fmt('::')).toBe('::');
    expect(fmt('::1')).toBe('::1');
    expect(fmt('1::')).toBe('1::');
    expect(fmt('2001:0DB8:0000:0000:0000:0000:0002:0001')).toBe('2001:db8::2:1');
    expect(fmt('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // first of two equal runs
    expect(fmt('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group is not compressed
    expect(fmt('2001:db8::1:2:3:4:5')).toBe('2001:db8:0:1:2:3:4:5');
    expect(fmt('fe80::1%eth0')).toBe('fe80::1');
    expect(fmt('64:ff9b::192.0.2.33')).toBe('64:ff9b::c000:221');
  });

  it('turns IPv4-mapped IPv6 into IPv4', () => {
    expect(fmt('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(fmt('::FFFF:c000:0201')).toBe('192.0.2.1');
    expect(parseIp('::ffff:10.1.2.3')?.v).toBe(4);
  });

  it('refuses malformed IPv6', () => {
    for (const bad of [
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'g::1',
      '1:2:3:4:5:6:7:8::',
      '::1.2.3',
      '::1.2.3.4:5',
      '[::1]',
      '1:2:3:4:5:6:1.2.3.4:5',
      ':1::',
      '1::2:',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('agrees with node:net on random IPv6 text (property)', () => {
    const next = rng(7);
    for (let i = 0; i < 2000; i++) {
      const words = Array.from({ length: 8 }, () => (next() < 0.4 ? 0 : Math.floor(next() * 0x10000)));
      const text = words.map((w) => w.toString(16)).join(':');
      const ip = parseIp(text);
      expect(ip).toBeDefined();
      const printed = formatIp(ip!);
      expect(isIPv6(printed) || /^\d+\.\d+\.\d+\.\d+$/.test(printed)).toBe(true);
      expect(fmt(printed)).toBe(printed); // canonical text is a fixed point
    }
  });
});

describe('clientKey', () => {
  it('keys IPv6 by the prefix and IPv4 as is', () => {
    const v6 = parseIp('2001:db8:1:2:aaaa:bbbb:cccc:dddd')!;
    expect(clientKey(v6, 64)).toBe('2001:db8:1:2::/64');
    expect(clientKey(v6, 48)).toBe('2001:db8:1::/48');
    expect(clientKey(v6, 56)).toBe('2001:db8:1::/56');
    expect(clientKey(parseIp('2001:db8:1:2ff::1')!, 56)).toBe('2001:db8:1:200::/56');
    expect(clientKey(v6, 128)).toBe('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(clientKey(parseIp('2001:db8:1:2::9')!, 64)).toBe(clientKey(v6, 64));
    expect(clientKey(parseIp('::ffff:192.0.2.7')!, 64)).toBe('192.0.2.7');
  });
});

describe('CIDRs', () => {
  it('parses networks, clears host bits, and refuses nonsense', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ v: 4, bits: 8, net: 10 * 2 ** 24 });
    expect(parseCidr('192.0.2.1')).toMatchObject({ v: 4, bits: 32 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toMatchObject({ v: 4, bits: 8 });
    const v6 = parseCidr('2001:db8::1/32');
    expect(v6?.v === 6 && formatV6(v6.net)).toBe('2001:db8::');
    for (const bad of [
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0.0/08',
      '10.0.0.0/-1',
      '::/129',
      'fe80::1%eth0/64',
      'x/8',
      '10.0.0.0/8/8',
      '::ffff:10.0.0.0/80',
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it('matches IPv4 and IPv6 members', () => {
    const set = new CidrSet(['10.0.0.0/8', '192.168.1.0/24', '2001:db8:abcd::/48', '::1'].map((c) => parseCidr(c)!));
    const has = (a: string) => set.has(parseIp(a)!);
    expect(has('10.255.0.1')).toBe(true);
    expect(has('11.0.0.1')).toBe(false);
    expect(has('192.168.1.200')).toBe(true);
    expect(has('192.168.2.1')).toBe(false);
    expect(has('::ffff:10.9.9.9')).toBe(true);
    expect(has('2001:db8:abcd:ffff::1')).toBe(true);
    expect(has('2001:db8:abce::1')).toBe(false);
    expect(has('::1')).toBe(true);
    expect(has('::2')).toBe(false);
    expect(new CidrSet([parseCidr('0.0.0.0/0')!]).has(parseIp('8.8.8.8')!)).toBe(true);
    expect(new CidrSet([parseCidr('0.0.0.0/0')!]).has(parseIp('::2')!)).toBe(false);
  });

  it('agrees with node:net BlockList on random networks and addresses (property)', () => {
    const next = rng(42);
    const word = () => Math.floor(next() * 0x10000);
    for (let round = 0; round < 200; round++) {
      const v4 = next() < 0.5;
      const bits = Math.floor(next() * (v4 ? 33 : 129));
      const base = v4
        ? [0, 0, 0, 0].map(() => Math.floor(next() * 256)).join('.')
        : Array.from({ length: 8 }, word)
            .map((w) => w.toString(16))
            .join(':');
      const cidr = parseCidr(`${base}/${bits}`);
      if (!cidr) throw new Error(`no parse: ${base}/${bits}`);
      if (!v4 && cidr.v === 4) continue; // a random IPv4-mapped base; covered elsewhere
      const ours = new CidrSet([cidr]);
      const theirs = new BlockList();
      theirs.addSubnet(base, bits, v4 ? 'ipv4' : 'ipv6');
      for (let i = 0; i < 50; i++) {
        // near the network (shares a random number of leading bits) or anywhere
        const probe = v4
          ? base
              .split('.')
              .map((o) => (next() < 0.7 ? o : String(Math.floor(next() * 256))))
              .join('.')
          : base
              .split(':')
              .map((w) => (next() < 0.7 ? w : word().toString(16)))
              .join(':');
        const ip = parseIp(probe)!;
        if (ip.v === 4 && !v4) continue;
        expect(ours.has(ip), `${probe} in ${base}/${bits}`).toBe(theirs.check(probe, v4 ? 'ipv4' : 'ipv6'));
      }
    }
  });
});
