import { describe, expect, it } from 'vitest';
import { IR_VERSION, type IR } from '../ir/types.js';
import { RESOURCE_FIELDS, decodeResourceMessage, encodeResourceMessage } from './codec.js';
import { loadAdsDefinition } from './protos.js';
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, contentHash, decodeResource, encodeResource, encodeResources, type Any } from './resources.js';

const ir: IR = {
  gateways: [
    {
      id: 'jarvis/edge',
      listeners: [{ name: 'http', port: 8080, protocol: 'HTTP', hostnames: [] }],
      routes: [],
      matchOrder: [],
      policies: [],
    },
  ],
  backends: [
    {
      id: 'jarvis/llm:80',
      service: { namespace: 'jarvis', name: 'llm', port: 80 },
      endpoints: [{ address: '10.0.0.1', port: 8000, ready: true, serving: true, terminating: false }],
      policies: [{ kind: 'CircuitBreakerPolicy', namespace: 'jarvis', name: 'llm', generation: 3 }],
    },
  ],
};

function raw(fields: { name?: string; irVersion?: number; contentHash?: string; json?: string | Uint8Array }): Uint8Array {
  const irJson = typeof fields.json === 'string' ? Buffer.from(fields.json) : (fields.json ?? new Uint8Array(0));
  return encodeResourceMessage({
    name: fields.name ?? '',
    irVersion: fields.irVersion ?? IR_VERSION,
    contentHash: fields.contentHash ?? contentHash(irJson),
    irJson,
  });
}

describe('wire resources', () => {
  it('round-trips a config through Any', () => {
    const enc = encodeResources(ir);
    expect([...enc.gateways.keys()]).toEqual(['jarvis/edge']);
    expect([...enc.backends.keys()]).toEqual(['jarvis/llm:80']);
    const g = enc.gateways.get('jarvis/edge') as Any;
    expect(g.type_url).toBe('type.googleapis.com/jarvis.stability.v1alpha1.GatewayResource');
    const d = decodeResource(g, GATEWAY_TYPE_URL);
    expect(d).toMatchObject({ ok: true, resource: { typeUrl: GATEWAY_TYPE_URL, name: 'jarvis/edge', payload: ir.gateways[0] } });
    const b = decodeResource(enc.backends.get('jarvis/llm:80'));
    expect(b).toMatchObject({ ok: true, resource: { typeUrl: BACKEND_TYPE_URL, payload: ir.backends[0] } });
  });

  it('encodes equal IR to equal bytes', () => {
    const a = encodeResource(BACKEND_TYPE_URL, ir.backends[0] as IR['backends'][number]);
    const b = encodeResource(BACKEND_TYPE_URL, structuredClone(ir.backends[0]) as IR['backends'][number]);
    expect(Buffer.from(a.value).equals(Buffer.from(b.value))).toBe(true);
  });

  it('codec field table matches resources.proto', () => {
    const def = loadAdsDefinition();
    const protoTypes: Record<string, string> = { string: 'TYPE_STRING', uint32: 'TYPE_UINT32', bytes: 'TYPE_BYTES' };
    const snake: Record<string, string> = { name: 'name', irVersion: 'ir_version', contentHash: 'content_hash', irJson: 'ir_json' };
    for (const msg of ['jarvis.stability.v1alpha1.GatewayResource', 'jarvis.stability.v1alpha1.BackendResource']) {
      const t = def[msg];
      expect(t && 'format' in t).toBe(true);
      const fields = (t as unknown as { type: { field: { name: string; number: number; type: string }[] } }).type.field;
      expect(fields.map((f) => [f.name, f.number, f.type])).toEqual(
        Object.entries(RESOURCE_FIELDS).map(([k, f]) => [snake[k], f.number, protoTypes[f.protoType]]),
      );
    }
  });

  it.each([
    ['not an object', 'abc', /not a google.protobuf.Any/],
    ['no type URL', { value: new Uint8Array() }, /no type_url/],
    [
      'unknown type URL',
      { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', value: new Uint8Array() },
      /unknown resource type URL/,
    ],
    ['other type than the response', { type_url: BACKEND_TYPE_URL, value: raw({ name: 'a', json: '{"id":"a"}' }) }, /in a response for/],
    ['value not bytes', { type_url: GATEWAY_TYPE_URL, value: 'x' }, /not bytes/],
    ['truncated bytes', { type_url: GATEWAY_TYPE_URL, value: Uint8Array.from([0x0a, 0x05, 0x61]) }, /invalid protobuf: length 5 runs past/],
    ['wrong wire type', { type_url: GATEWAY_TYPE_URL, value: Uint8Array.from([0x08, 0x01]) }, /field name \(1\) has wire type 0/],
    ['group wire type', { type_url: GATEWAY_TYPE_URL, value: Uint8Array.from([0x2b]) }, /unsupported wire type 3/],
    [
      'overlong varint',
      { type_url: GATEWAY_TYPE_URL, value: Uint8Array.from(new Array<number>(11).fill(0xff)) },
      /varint longer than 10 bytes/,
    ],
    ['bad UTF-8 name', { type_url: GATEWAY_TYPE_URL, value: Uint8Array.from([0x0a, 0x01, 0xff]) }, /not valid UTF-8/],
    ['empty name', { type_url: GATEWAY_TYPE_URL, value: raw({ json: '{"id":""}' }) }, /empty name/],
    [
      'IR version mismatch',
      { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', irVersion: IR_VERSION + 1, json: '{"id":"a"}' }) },
      new RegExp(`IR version ${IR_VERSION + 1} is not supported`),
    ],
    [
      'hash mismatch',
      { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', contentHash: 'sha256:00', json: '{"id":"a"}' }) },
      /content hash mismatch/,
    ],
    ['bad JSON', { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', json: '{"id":' }) }, /ir_json is not valid JSON/],
    ['JSON not an object', { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', json: '[1]' }) }, /ir_json is array, not an object/],
    ['no id', { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', json: '{}' }) }, /has no string id/],
    ['name mismatch', { type_url: GATEWAY_TYPE_URL, value: raw({ name: 'a', json: '{"id":"b"}' }) }, /name does not match the IR id "b"/],
  ])('rejects %s with a clear message', (_case, any, message) => {
    const d = decodeResource(any, GATEWAY_TYPE_URL);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(message);
  });

  it('skips unknown fields (forward compatibility)', () => {
    const body = raw({ name: 'a', json: '{"id":"a"}' });
    // field 9 varint, field 10 fixed64, field 11 length-delimited, field 12 fixed32
    const extra = Uint8Array.from([0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5a, 0x02, 0x68, 0x69, 0x65, 1, 2, 3, 4]);
    const d = decodeResource({ type_url: GATEWAY_TYPE_URL, value: Buffer.concat([extra, body]) });
    expect(d).toMatchObject({ ok: true, resource: { name: 'a' } });
  });

  it('never throws on random bytes', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const valid = raw({ name: 'a', json: '{"id":"a"}' });
    for (let i = 0; i < 2000; i++) {
      const bytes =
        i % 2 === 0 ? Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)) : Uint8Array.from(valid);
      if (i % 2 === 1) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      const d = decodeResource({ type_url: GATEWAY_TYPE_URL, value: bytes });
      expect(typeof d.ok).toBe('boolean');
    }
  });

  it('decodeResourceMessage round-trips large values', () => {
    const irJson = Buffer.alloc(300_000, 0x61);
    const d = decodeResourceMessage(encodeResourceMessage({ name: 'n', irVersion: 0xffffffff, contentHash: 'h', irJson }));
    expect(d.ok && d.message.irVersion === 0xffffffff && d.message.irJson.length === 300_000).toBe(true);
  });
});
