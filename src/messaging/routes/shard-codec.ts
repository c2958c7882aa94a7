import { Packr, Unpackr } from 'msgpackr';

/**
 * A route shard's data: a plain MessagePack map `{server, users: {user: [since, seq]}}`.
 * Arrays instead of `{since, seq}` maps keep a shard of 8,192 users near 200 KB, far below the 1 MB znode limit.
 */
export interface ShardData {
  server: string;
  users: Map<string, readonly [since: number, seq: number]>;
}

/**
 * Upper bound of the MessagePack bytes one `user: [since, seq]` entry takes: a str8 header (names
 * are at most 128 bytes), the UTF-8 bytes, a fixarray header, and two numbers of at most 9 bytes
 * each (msgpackr writes integers beyond 32 bits as float64).
 */
export function shardEntryBytes(user: string): number {
  return 2 + Buffer.byteLength(user, 'utf8') + 1 + 9 + 9;
}

/** Upper bound of the bytes around the entries: the outer map, `server` and its value, `users` and a map32 header. */
export function shardBaseBytes(server: string): number {
  return 1 + 7 + 5 + Buffer.byteLength(server, 'utf8') + 6 + 5;
}

const packr = new Packr({ useRecords: false });
// Maps, not objects: a user called "__proto__" must stay an ordinary key.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

export function encodeShard(data: ShardData): Buffer {
  return packr.pack(new Map<string, unknown>([['server', data.server], ['users', data.users]]));
}

/** Decodes a shard; undefined when the bytes are not one (such entries are ignored, never routed to). */
export function decodeShard(buf: Buffer): ShardData | undefined {
  let v: unknown;
  try {
    v = unpackr.unpack(buf);
  } catch {
    return undefined;
  }
  if (!(v instanceof Map)) return undefined;
  const server = v.get('server');
  const users = v.get('users');
  if (typeof server !== 'string' || !(users instanceof Map)) return undefined;
  const out = new Map<string, readonly [number, number]>();
  for (const [u, e] of users) {
    if (typeof u !== 'string' || !Array.isArray(e) || typeof e[0] !== 'number' || typeof e[1] !== 'number') continue;
    out.set(u, [e[0], e[1]]);
  }
  return { server, users: out };
}
