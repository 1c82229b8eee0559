/**
 * A minimal protobuf (proto3) codec for the two messages of
 * api/proto/jarvis/stability/v1alpha1/resources.proto. Both have the same shape, so one table
 * describes them. Decoding never trusts its input: every length is bounds-checked, wire types are
 * checked for known fields, unknown fields are skipped (forward compatibility), groups are refused,
 * and errors come back as values, never as exceptions.
 */

/** The fields of GatewayResource and BackendResource. */
export interface ResourceMessage {
  readonly name: string;
  readonly irVersion: number;
  readonly contentHash: string;
  readonly irJson: Uint8Array;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Field numbers and wire types; resources.test.ts checks them against the .proto file. */
export const RESOURCE_FIELDS = {
  name: { number: 1, wire: WIRE_LEN, protoType: 'string' },
  irVersion: { number: 2, wire: WIRE_VARINT, protoType: 'uint32' },
  contentHash: { number: 3, wire: WIRE_LEN, protoType: 'string' },
  irJson: { number: 4, wire: WIRE_LEN, protoType: 'bytes' },
} as const;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function lenField(parts: Uint8Array[], field: number, bytes: Uint8Array): void {
  const head: number[] = [];
  pushVarint(head, (field << 3) | WIRE_LEN);
  pushVarint(head, bytes.length);
  parts.push(Uint8Array.from(head), bytes);
}

/** Encodes a resource message (proto3: fields at their default value are omitted). */
export function encodeResourceMessage(msg: ResourceMessage): Buffer {
  if (!Number.isInteger(msg.irVersion) || msg.irVersion < 0 || msg.irVersion > 0xffffffff) {
    throw new RangeError(`irVersion ${msg.irVersion} is not a uint32`);
  }
  const parts: Uint8Array[] = [];
  if (msg.name !== '') lenField(parts, RESOURCE_FIELDS.name.number, utf8.encode(msg.name));
  if (msg.irVersion !== 0) {
    const head: number[] = [];
    pushVarint(head, (RESOURCE_FIELDS.irVersion.number << 3) | WIRE_VARINT);
    pushVarint(head, msg.irVersion);
    parts.push(Uint8Array.from(head));
  }
  if (msg.contentHash !== '') lenField(parts, RESOURCE_FIELDS.contentHash.number, utf8.encode(msg.contentHash));
  if (msg.irJson.length > 0) lenField(parts, RESOURCE_FIELDS.irJson.number, msg.irJson);
  return Buffer.concat(parts);
}

export type DecodeMessageResult = { ok: true; message: ResourceMessage } | { ok: false; error: string };

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  /** A varint of at most 10 bytes; values above 2^53 lose precision (only used for skipping/checks). */
  varint(): number | string {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) return 'truncated varint';
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 0x80;
    }
    return 'varint longer than 10 bytes';
  }

  bytes(): Uint8Array | string {
    const len = this.varint();
    if (typeof len === 'string') return len;
    if (len > this.buf.length - this.pos) return `length ${len} runs past the end of the message`;
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(n: number): string | undefined {
    if (n > this.buf.length - this.pos) return 'truncated fixed-width field';
    this.pos += n;
    return undefined;
  }
}

function fail(error: string): DecodeMessageResult {
  return { ok: false, error: `invalid protobuf: ${error}` };
}

function decodeString(bytes: Uint8Array, field: string): string | { error: string } {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return { error: `field ${field} is not valid UTF-8` };
  }
}

/** Decodes a resource message; never throws. */
export function decodeResourceMessage(buf: Uint8Array): DecodeMessageResult {
  const r = new Reader(buf);
  let name = '';
  let irVersion = 0;
  let contentHash = '';
  let irJson: Uint8Array = new Uint8Array(0);
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (typeof tag === 'string') return fail(tag);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) return fail('field number 0');
    const known = Object.entries(RESOURCE_FIELDS).find(([, f]) => f.number === field);
    if (known !== undefined && known[1].wire !== wire) {
      return fail(`field ${known[0]} (${field}) has wire type ${wire}, expected ${known[1].wire}`);
    }
    switch (wire) {
      case WIRE_VARINT: {
        const v = r.varint();
        if (typeof v === 'string') return fail(v);
        if (field === RESOURCE_FIELDS.irVersion.number) {
          if (v > 0xffffffff) return fail(`ir_version ${v} does not fit uint32`);
          irVersion = v;
        }
        break;
      }
      case WIRE_LEN: {
        const b = r.bytes();
        if (typeof b === 'string') return fail(b);
        if (field === RESOURCE_FIELDS.name.number || field === RESOURCE_FIELDS.contentHash.number) {
          const s = decodeString(b, field === 1 ? 'name' : 'content_hash');
          if (typeof s !== 'string') return fail(s.error);
          if (field === RESOURCE_FIELDS.name.number) name = s;
          else contentHash = s;
        } else if (field === RESOURCE_FIELDS.irJson.number) {
          irJson = b;
        }
        break;
      }
      case WIRE_FIXED64: {
        const e = r.skip(8);
        if (e !== undefined) return fail(e);
        break;
      }
      case WIRE_FIXED32: {
        const e = r.skip(4);
        if (e !== undefined) return fail(e);
        break;
      }
      default:
        return fail(`unsupported wire type ${wire} (field ${field})`);
    }
  }
  return { ok: true, message: { name, irVersion, contentHash, irJson } };
}
