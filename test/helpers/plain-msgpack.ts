// A tiny MessagePack decoder written from the spec (github.com/msgpack/msgpack/blob/master/spec.md),
// independent of msgpackr. It refuses every extension type, so decoding a value with it proves the
// bytes are plain MessagePack that any library in any language can read.

export class PlainMsgpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlainMsgpackError';
  }
}

export type PlainValue = null | boolean | number | string | PlainValue[] | { [key: string]: PlainValue };

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new PlainMsgpackError(`truncated: need ${n} byte(s) at offset ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }

  private take<T>(n: number, read: (off: number) => T): T {
    this.need(n);
    const v = read(this.pos);
    this.pos += n;
    return v;
  }

  u16 = () => this.take(2, (o) => this.buf.readUInt16BE(o));
  u32 = () => this.take(4, (o) => this.buf.readUInt32BE(o));
  u64 = () => this.take(8, (o) => this.buf.readBigUInt64BE(o));
  i8 = () => this.take(1, (o) => this.buf.readInt8(o));
  i16 = () => this.take(2, (o) => this.buf.readInt16BE(o));
  i32 = () => this.take(4, (o) => this.buf.readInt32BE(o));
  i64 = () => this.take(8, (o) => this.buf.readBigInt64BE(o));
  f32 = () => this.take(4, (o) => this.buf.readFloatBE(o));
  f64 = () => this.take(8, (o) => this.buf.readDoubleBE(o));

  str(len: number): string {
    return this.take(len, (o) => this.buf.toString('utf8', o, o + len));
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }
}

function big(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new PlainMsgpackError(`64-bit integer ${v} is not a safe JS integer`);
  return n;
}

function readValue(r: Reader): PlainValue {
  const b = r.u8();
  if (b <= 0x7f) return b; // positive fixint
  if (b >= 0xe0) return b - 0x100; // negative fixint
  if ((b & 0xf0) === 0x80) return readMap(r, b & 0x0f); // fixmap
  if ((b & 0xf0) === 0x90) return readArray(r, b & 0x0f); // fixarray
  if ((b & 0xe0) === 0xa0) return r.str(b & 0x1f); // fixstr
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xca:
      return r.f32();
    case 0xcb:
      return r.f64();
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf:
      return big(r.u64());
    case 0xd0:
      return r.i8();
    case 0xd1:
      return r.i16();
    case 0xd2:
      return r.i32();
    case 0xd3:
      return big(r.i64());
    case 0xd9:
      return r.str(r.u8());
    case 0xda:
      return r.str(r.u16());
    case 0xdb:
      return r.str(r.u32());
    case 0xdc:
      return readArray(r, r.u16());
    case 0xdd:
      return readArray(r, r.u32());
    case 0xde:
      return readMap(r, r.u16());
    case 0xdf:
      return readMap(r, r.u32());
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      throw new PlainMsgpackError(`extension type 0x${b.toString(16)} at offset ${r.pos - 1}: not plain MessagePack`);
    default:
      // 0xc1 is never used; bin 0xc4-0xc6 is not expected in fulcrum's data.
      throw new PlainMsgpackError(`unsupported type byte 0x${b.toString(16)} at offset ${r.pos - 1}`);
  }
}

function readArray(r: Reader, n: number): PlainValue[] {
  const out: PlainValue[] = [];
  for (let i = 0; i < n; i++) out.push(readValue(r));
  return out;
}

function readMap(r: Reader, n: number): { [key: string]: PlainValue } {
  const out: { [key: string]: PlainValue } = {};
  for (let i = 0; i < n; i++) {
    const k = readValue(r);
    if (typeof k !== 'string') throw new PlainMsgpackError(`map key ${JSON.stringify(k)} is not a string`);
    Object.defineProperty(out, k, { value: readValue(r), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Decodes exactly one MessagePack value; throws PlainMsgpackError on trailing bytes or extensions. */
export function plainDecode(buf: Buffer): PlainValue {
  const r = new Reader(buf);
  const v = readValue(r);
  if (r.remaining !== 0) throw new PlainMsgpackError(`${r.remaining} trailing byte(s) after the value`);
  return v;
}

function header(out: number[], n: number, fix: number, fixMax: number, b16: number, b32: number): void {
  if (n <= fixMax) out.push(fix | n);
  else if (n <= 0xffff) out.push(b16, n >> 8, n & 0xff);
  else out.push(b32, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function writeValue(out: number[], v: PlainValue): void {
  if (v === null) out.push(0xc0);
  else if (v === false) out.push(0xc2);
  else if (v === true) out.push(0xc3);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0x7f) out.push(v);
    else if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) out.push(0xce, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    else {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      out.push(0xcb);
      for (const x of b) out.push(x);
    }
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    if (b.length <= 31) out.push(0xa0 | b.length);
    else if (b.length <= 0xff) out.push(0xd9, b.length);
    else header(out, b.length, 0, -1, 0xda, 0xdb);
    for (const x of b) out.push(x);
  } else if (Array.isArray(v)) {
    header(out, v.length, 0x90, 15, 0xdc, 0xdd);
    for (const x of v) writeValue(out, x);
  } else {
    const keys = Object.keys(v);
    header(out, keys.length, 0x80, 15, 0xde, 0xdf);
    for (const k of keys) {
      writeValue(out, k);
      writeValue(out, v[k]!);
    }
  }
}

/** Encodes one value as plain MessagePack from the spec (nil, bool, uint32 or float64, str, array, map): what any client library produces. */
export function plainEncode(v: PlainValue): Buffer {
  const out: number[] = [];
  writeValue(out, v);
  return Buffer.from(out);
}
