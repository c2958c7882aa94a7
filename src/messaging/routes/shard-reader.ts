// Reads route shards in place: a router keeps each shard's MessagePack bytes as ZooKeeper gave
// them and finds entries in them, instead of decoding every route into objects (~26 bytes per
// route instead of ~300). Accepts exactly what decodeShard accepts.
import { Unpackr } from 'msgpackr';
import { fnvHashBytes } from '../../fnv-hash.js';

/** The index hash of a user name's UTF-8 bytes. */
export const bytesHash = fnvHashBytes;

/** One `user: [since, seq]` entry of a shard, as byte offsets into its buffer. */
export interface ShardEntry {
  /** The user name's UTF-8 bytes are buf[keyStart, keyEnd). */
  keyStart: number;
  keyEnd: number;
  since: number;
  seq: number;
}

/** A shard's header: its server and where each valid entry starts (the offset of its key). */
export interface ParsedShard {
  server: string;
  entries: Uint32Array;
}

class Truncated extends Error {}
const TRUNCATED = new Truncated();

/** A cursor over MessagePack bytes; throws TRUNCATED past the end. */
class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    at = 0,
  ) {
    this.pos = at;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw TRUNCATED;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  uint(bytes: 1 | 2 | 4): number {
    this.need(bytes);
    const v = bytes === 1 ? this.buf[this.pos]! : bytes === 2 ? this.buf.readUInt16BE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += bytes;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** The length of a map at the cursor, or -1 when the value there is not a map (left unread). */
  mapHeader(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw TRUNCATED;
    if (b >= 0x80 && b <= 0x8f) return (this.pos++, b & 0x0f);
    if (b === 0xde) return (this.pos++, this.uint(2));
    if (b === 0xdf) return (this.pos++, this.uint(4));
    return -1;
  }

  /** Same for an array. */
  arrayHeader(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw TRUNCATED;
    if (b >= 0x90 && b <= 0x9f) return (this.pos++, b & 0x0f);
    if (b === 0xdc) return (this.pos++, this.uint(2));
    if (b === 0xdd) return (this.pos++, this.uint(4));
    return -1;
  }

  /** The byte length of a string at the cursor (the cursor moves to its first byte), or -1 when it is not a string (left unread). */
  strHeader(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw TRUNCATED;
    if (b >= 0xa0 && b <= 0xbf) return (this.pos++, b & 0x1f);
    if (b === 0xd9) return (this.pos++, this.uint(1));
    if (b === 0xda) return (this.pos++, this.uint(2));
    if (b === 0xdb) return (this.pos++, this.uint(4));
    return -1;
  }

  /** A number at the cursor (any MessagePack int or float), or undefined when it is not one (left unread). */
  number(): number | undefined {
    const b = this.buf[this.pos];
    if (b === undefined) throw TRUNCATED;
    if (b <= 0x7f) return (this.pos++, b);
    if (b >= 0xe0) return (this.pos++, b - 0x100);
    let v: number;
    switch (b) {
      case 0xcc: this.need(2); v = this.buf[this.pos + 1]!; this.pos += 2; return v;
      case 0xcd: this.need(3); v = this.buf.readUInt16BE(this.pos + 1); this.pos += 3; return v;
      case 0xce: this.need(5); v = this.buf.readUInt32BE(this.pos + 1); this.pos += 5; return v;
      case 0xcf: this.need(9); v = Number(this.buf.readBigUInt64BE(this.pos + 1)); this.pos += 9; return v;
      case 0xd0: this.need(2); v = this.buf.readInt8(this.pos + 1); this.pos += 2; return v;
      case 0xd1: this.need(3); v = this.buf.readInt16BE(this.pos + 1); this.pos += 3; return v;
      case 0xd2: this.need(5); v = this.buf.readInt32BE(this.pos + 1); this.pos += 5; return v;
      case 0xd3: this.need(9); v = Number(this.buf.readBigInt64BE(this.pos + 1)); this.pos += 9; return v;
      case 0xca: this.need(5); v = this.buf.readFloatBE(this.pos + 1); this.pos += 5; return v;
      case 0xcb: this.need(9); v = this.buf.readDoubleBE(this.pos + 1); this.pos += 9; return v;
      default: return undefined;
    }
  }

  /** Skips one whole value of any type. */
  skipValue(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      const b = this.byte();
      // 0xc1 is never used, but msgpackr decodes it as a value of its own: so does this.
      if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) continue;
      if (b >= 0x80 && b <= 0x8f) pending += 2 * (b & 0x0f);
      else if (b >= 0x90 && b <= 0x9f) pending += b & 0x0f;
      else if (b >= 0xa0 && b <= 0xbf) this.skip(b & 0x1f);
      else {
        switch (b) {
          case 0xc4: case 0xd9: this.skip(this.uint(1)); break;
          case 0xc5: case 0xda: this.skip(this.uint(2)); break;
          case 0xc6: case 0xdb: this.skip(this.uint(4)); break;
          case 0xc7: this.skip(this.uint(1) + 1); break;
          case 0xc8: this.skip(this.uint(2) + 1); break;
          case 0xc9: this.skip(this.uint(4) + 1); break;
          case 0xca: this.skip(4); break;
          case 0xcb: this.skip(8); break;
          case 0xcc: case 0xd0: this.skip(1); break;
          case 0xcd: case 0xd1: this.skip(2); break;
          case 0xce: case 0xd2: this.skip(4); break;
          case 0xcf: case 0xd3: this.skip(8); break;
          case 0xd4: this.skip(2); break;
          case 0xd5: this.skip(3); break;
          case 0xd6: this.skip(5); break;
          case 0xd7: this.skip(9); break;
          case 0xd8: this.skip(17); break;
          case 0xdc: pending += this.uint(2); break;
          case 0xdd: pending += this.uint(4); break;
          case 0xde: pending += 2 * this.uint(2); break;
          case 0xdf: pending += 2 * this.uint(4); break;
        }
      }
    }
  }
}

/**
 * Reads the entry whose key starts at `at` (an offset from ParsedShard.entries) into `out`.
 * Only for offsets parseShard returned for this buffer: they are known to be whole and valid.
 */
export function readEntry(buf: Buffer, at: number, out: ShardEntry): ShardEntry {
  const c = new Cursor(buf, at);
  const len = c.strHeader();
  out.keyStart = c.pos;
  out.keyEnd = c.pos + len;
  c.pos = out.keyEnd;
  c.arrayHeader();
  out.since = c.number()!;
  out.seq = c.number()!;
  return out;
}

/** The key of the entry at `at`, as [start, end) of its UTF-8 bytes. */
export function entryKey(buf: Buffer, at: number, out: ShardEntry): ShardEntry {
  const c = new Cursor(buf, at);
  const len = c.strHeader();
  out.keyStart = c.pos;
  out.keyEnd = c.pos + len;
  return out;
}

const ascii = (buf: Buffer, start: number, end: number, text: string): boolean => {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[start + i] !== text.charCodeAt(i)) return false;
  return true;
};

/**
 * Parses a shard `{server, users: {user: [since, seq, ...]}}` (keys in any order, other keys
 * ignored) and lists its valid entries (a string key whose value is an array starting with two
 * numbers). Undefined when the bytes are not a shard: not MessagePack, truncated, trailing bytes,
 * or `server` / `users` missing or of the wrong type, as decodeShard decides.
 */
export function parseShard(buf: Buffer): ParsedShard | undefined {
  try {
    const c = new Cursor(buf);
    const fields = c.mapHeader();
    if (fields < 0) return undefined;
    let server: string | undefined;
    let usersAt = -1;
    for (let i = 0; i < fields; i++) {
      const keyLen = c.strHeader();
      if (keyLen < 0) {
        c.skipValue();
        c.skipValue();
        continue;
      }
      const keyStart = c.pos;
      c.skip(keyLen);
      if (ascii(buf, keyStart, keyStart + keyLen, 'server')) {
        const len = c.strHeader();
        if (len < 0) {
          server = undefined;
          c.skipValue();
          continue;
        }
        c.skip(len);
        server = buf.toString('utf8', c.pos - len, c.pos);
      } else if (ascii(buf, keyStart, keyStart + keyLen, 'users')) {
        usersAt = c.pos; // a later duplicate key wins, as in decodeShard
        c.skipValue();
      } else c.skipValue();
    }
    if (c.pos !== buf.length || server === undefined || usersAt < 0) return undefined;
    c.pos = usersAt;
    const count = c.mapHeader();
    // Each entry takes at least 2 bytes: a count beyond that is a lie, not an allocation to make.
    if (count < 0 || count > (buf.length - c.pos) / 2) return undefined;
    const entries = new Uint32Array(count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const at = c.pos;
      const keyLen = c.strHeader();
      if (keyLen < 0) {
        c.skipValue();
        c.skipValue();
        continue;
      }
      c.skip(keyLen);
      const valueAt = c.pos;
      const items = c.arrayHeader();
      if (items >= 2 && c.number() !== undefined && c.number() !== undefined) {
        entries[n++] = at;
        for (let j = 2; j < items; j++) c.skipValue();
      } else {
        c.pos = valueAt;
        c.skipValue();
      }
    }
    return { server, entries: n === count ? entries : entries.slice(0, n) };
  } catch (e) {
    if (e === TRUNCATED || e instanceof RangeError) return undefined;
    throw e;
  }
}

/** Whether a[aStart, aEnd) and b[bStart, bEnd) hold the same bytes. */
export function sameBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  const n = aEnd - aStart;
  if (n !== bEnd - bStart) return false;
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

const keyReader = new Unpackr({ useRecords: false });

/** The user name of the entry at `at`, decoded as decodeShard decodes it. */
export function entryName(buf: Buffer, at: number, key: ShardEntry): string {
  return keyReader.unpack(buf.subarray(at, key.keyEnd)) as string;
}

/**
 * Writes `name` as UTF-8 the way msgpackr writes a string (below 64 code units its own encoder,
 * which keeps a lone surrogate as 3 bytes; longer ones Buffer's) into `scratch`, grown as needed;
 * returns the scratch buffer and the byte length.
 */
export function encodeName(name: string, scratch: Buffer): { buf: Buffer; length: number } {
  const n = name.length;
  let buf = scratch.length >= 3 * n ? scratch : Buffer.allocUnsafe(Math.max(3 * n, 2 * scratch.length));
  if (n >= 0x40) return { buf, length: buf.write(name, 0, 'utf8') };
  let p = 0;
  for (let i = 0; i < n; i++) {
    let c = name.charCodeAt(i);
    if (c < 0x80) buf[p++] = c;
    else if (c < 0x800) {
      buf[p++] = (c >> 6) | 0xc0;
      buf[p++] = (c & 0x3f) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && (name.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x03ff) << 10) + (name.charCodeAt(++i) & 0x03ff);
      buf[p++] = (c >> 18) | 0xf0;
      buf[p++] = ((c >> 12) & 0x3f) | 0x80;
      buf[p++] = ((c >> 6) & 0x3f) | 0x80;
      buf[p++] = (c & 0x3f) | 0x80;
    } else {
      buf[p++] = (c >> 12) | 0xe0;
      buf[p++] = ((c >> 6) & 0x3f) | 0x80;
      buf[p++] = (c & 0x3f) | 0x80;
    }
  }
  return { buf, length: p };
}
