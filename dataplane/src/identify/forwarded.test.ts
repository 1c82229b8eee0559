import { describe, expect, it } from 'vitest';
import { clientBehindProxies, parseForwardedElement, parseNode } from './forwarded.js';
import { CidrSet, formatIp, parseCidr, parseIp } from './ip.js';

const trusted = new CidrSet(['10.0.0.0/8', 'fd00::/8'].map((c) => parseCidr(c)!));
const peer = parseIp('10.0.0.1')!;
const xff = (header: string | undefined, maxHops = 16) => formatIp(clientBehindProxies(peer, header, 'x-forwarded-for', trusted, maxHops));
const fwd = (header: string | undefined) => formatIp(clientBehindProxies(peer, header, 'forwarded', trusted, 16));

describe('X-Forwarded-For through trusted proxies', () => {
  it('takes the first untrusted address from the right', () => {
    expect(xff('203.0.113.5')).toBe('203.0.113.5');
    expect(xff('203.0.113.5, 10.1.1.1')).toBe('203.0.113.5');
    expect(xff('203.0.113.5,10.1.1.1,10.2.2.2')).toBe('203.0.113.5');
    expect(xff('2001:db8::1, fd00::7')).toBe('2001:db8::1');
  });

  it('ignores what the client wrote left of the address the proxy saw', () => {
    // the client sent "X-Forwarded-For: 1.1.1.1, 10.9.9.9"; the proxy appended the real address
    expect(xff('1.1.1.1, 10.9.9.9, 198.51.100.77')).toBe('198.51.100.77');
    expect(xff('garbage, 198.51.100.77')).toBe('198.51.100.77');
  });

  it('stops at garbage inside the trusted part and keeps the last vouched-for hop', () => {
    expect(xff('not-an-ip')).toBe('10.0.0.1');
    expect(xff('')).toBe('10.0.0.1');
    expect(xff('203.0.113.5, , 10.1.1.1')).toBe('10.1.1.1');
    expect(xff('unknown, 10.1.1.1')).toBe('10.1.1.1');
    expect(xff('203.0.113.5, 10.1.1.1,')).toBe('10.0.0.1');
    expect(xff('1.2.3.4 5.6.7.8')).toBe('10.0.0.1');
    expect(xff('x'.repeat(100_000))).toBe('10.0.0.1');
  });

  it('reads ports and brackets', () => {
    expect(xff('203.0.113.5:4711')).toBe('203.0.113.5');
    expect(xff('[2001:db8::1]:4711')).toBe('2001:db8::1');
    expect(xff('[2001:db8::1]')).toBe('2001:db8::1');
    expect(xff('203.0.113.5:99999999')).toBe('10.0.0.1');
    expect(xff('[2001:db8::1]x')).toBe('10.0.0.1');
  });

  it('reads at most maxHops entries', () => {
    const chain = ['203.0.113.5', ...Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 2}`)].join(', ');
    expect(xff(chain, 32)).toBe('203.0.113.5');
    expect(xff(chain, 4)).toBe('10.0.0.18');
  });

  it('uses the leftmost address when every hop is trusted', () => {
    expect(xff('10.3.3.3, 10.2.2.2')).toBe('10.3.3.3');
    expect(xff(undefined)).toBe('10.0.0.1');
  });
});

describe('Forwarded (RFC 7239)', () => {
  it('reads the for= node of each element from the right', () => {
    expect(fwd('for=192.0.2.60;proto=http;by=203.0.113.43')).toBe('192.0.2.60');
    expect(fwd('for=192.0.2.43, for=198.51.100.17')).toBe('198.51.100.17');
    expect(fwd('for=192.0.2.43, for=10.1.1.1')).toBe('192.0.2.43');
    expect(fwd('For="[2001:db8:cafe::17]:4711"')).toBe('2001:db8:cafe::17');
    expect(fwd('proto=https; FOR = 192.0.2.1')).toBe('10.0.0.1'); // spaces around = are not allowed
    expect(fwd('proto=https;for="192.0.2.1:80"')).toBe('192.0.2.1');
  });

  it('treats unknown, obfuscated, missing and doubled for= as the end of what can be believed', () => {
    expect(fwd('for=unknown')).toBe('10.0.0.1');
    expect(fwd('for=_hidden, for=10.1.1.1')).toBe('10.1.1.1');
    expect(fwd('proto=https')).toBe('10.0.0.1');
    expect(fwd('for=192.0.2.1;for=192.0.2.2')).toBe('10.0.0.1');
    expect(fwd('for="192.0.2.1')).toBe('10.0.0.1');
    expect(fwd('for="\\"192.0.2.1"')).toBe('10.0.0.1');
  });

  it('parses elements and nodes on their own', () => {
    expect(parseForwardedElement('by=x;for=192.0.2.9')).toEqual(parseIp('192.0.2.9'));
    expect(parseNode('2001:db8::1')).toEqual(parseIp('2001:db8::1'));
    expect(parseNode('2001:db8::1:80')).toEqual(parseIp('2001:db8::1:80')); // unbracketed IPv6 has no port
    expect(parseNode('[::ffff:192.0.2.1]:8')).toEqual(parseIp('192.0.2.1'));
  });
});
