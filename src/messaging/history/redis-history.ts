import { Packr, Unpackr } from 'msgpackr';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { HistoryUnavailableError, InvalidArgumentError } from '../../errors.js';
import type { MessageId } from '../../protocol/messages.js';
import {
  MAX_HISTORY_READ,
  resolveHistoryLimits,
  type AckedCursor,
  type AppendOptions,
  type HistoryEngine,
  type HistoryEntry,
  type HistoryLimitOptions,
  type HistoryLimits,
  type HistoryPage,
  type NewEntry,
  type ReadOptions,
  type StreamPosition,
  type StreamRef,
} from './history-engine.js';
import { newEpoch } from './memory-history.js';
import { ACK_LUA, APPEND_LUA, APPEND_MANY_LUA, READ_LUA } from './redis-scripts.js';

/** Acked cursors written by one script call (a flush of many users). */
const ACK_BATCH = 128;
/** Most appends one script call carries. */
const APPEND_BATCH = 256;
/**
 * Append script calls in flight at once; appends arriving meanwhile wait and go out together when
 * one answers (group commit: under load a call carries many appends, idle ones go out at once).
 */
const APPEND_CALLS_IN_FLIGHT = 1;
/** Batched by the engine itself: ioredis's auto-pipelining would only wrap each in a pipeline of one. */
const UNPIPELINED = ['fulcrumAppendMany', 'fulcrumAck'];

interface QueuedAppend {
  stream: StreamRef;
  payload: Buffer;
  resolve: (p: StreamPosition) => void;
  reject: (e: unknown) => void;
}
/** Key prefix of every key the engine writes. @default 'fulcrum' */
export const DEFAULT_REDIS_KEY_PREFIX = 'fulcrum';
/** A Redis command that takes longer fails (the push answers 503, the login is refused and retried). @default 2000 */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** An ioredis `Redis` or `Cluster` you made (typed loosely: fulcrum's typings do not depend on ioredis's). */
export interface RedisClient {
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
}

/**
 * Where the history lives: a URL (`redis://`, `rediss://`; `redis-cluster://h1:p1,h2:p2`;
 * `redis-sentinel://h1:p1,h2:p2/master-name`), ioredis `RedisOptions` (standalone or Sentinel:
 * `{ sentinels, name }`), a Cluster spec (`{ cluster: [{ host, port }], options }` with ioredis
 * `ClusterOptions`), or an ioredis client you made (fulcrum never closes it).
 */
export type RedisTarget = string | Record<string, unknown> | { cluster: { host: string; port: number }[]; options?: Record<string, unknown> } | RedisClient;

export interface RedisHistoryOptions extends HistoryLimitOptions {
  redis: RedisTarget;
  /** @default DEFAULT_REDIS_KEY_PREFIX ('fulcrum') */
  keyPrefix?: string;
  /** @default DEFAULT_REDIS_COMMAND_TIMEOUT_MS (2000) */
  commandTimeoutMs?: number;
}

interface Commands {
  fulcrumAppend(s: string, m: string, i: string, payload: Buffer, maxLen: number, ttlMs: number, metaTtlMs: number, epoch: string, keyed: string, idemTtlMs: number): Promise<[number, string]>;
  fulcrumReadBuffer(s: string, m: string, mode: string, epoch: string, offset: number, limit: number, ttlMs: number, metaTtlMs: number, epoch2: string): Promise<[Buffer, number, number, number, [Buffer, Buffer[]][]]>;
  /** ioredis flattens the arrays: the keys, then the arguments. */
  fulcrumAck(n: number, keys: string[], args: (string | number)[]): Promise<number>;
  /** ioredis flattens the arrays: the keys, then the arguments. */
  fulcrumAppendMany(n: number, keys: string[], args: (string | number | Buffer)[]): Promise<(number | string)[]>;
}

type Client = (Redis | Cluster) & Commands;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/** The stored payload: short keys, plain MessagePack. */
interface Stored {
  i: MessageId;
  b: unknown;
  f?: string;
}

const SPECIAL = /[%{}]/;

/** `{`, `}` and `%` escaped, so the hash tag is exactly the stream and no name can end it early. */
function escapeName(name: string): string {
  if (!SPECIAL.test(name)) return name;
  return name.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The keys of one stream: `<prefix>:{u:<name>}:s` (entries) and `:m` (epoch, last offset, acked cursor), same hash tag. */
export function streamKeys(prefix: string, stream: StreamRef): { stream: string; meta: string; tag: string } {
  const tag = `${prefix}:{${stream.kind === 'user' ? 'u' : 'r'}:${escapeName(stream.name)}}`;
  return { stream: `${tag}:s`, meta: `${tag}:m`, tag };
}

const CLUSTER_URL = /^redis-cluster:\/\/([^/]+)\/?$/;
const SENTINEL_URL = /^redis-sentinel:\/\/([^/]+)\/([^/?#]+)$/;

function hostPorts(list: string, what: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(hp.trim());
    const port = Number(m?.[2]);
    if (!m || !(port >= 1 && port <= 65535)) throw InvalidArgumentError.format('history.redis', `${what}: expected host:port, got ${JSON.stringify(hp)}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** Checks a Redis URL without connecting; throws InvalidArgumentError naming the problem. */
export function checkRedisUrl(url: string): void {
  if (CLUSTER_URL.test(url)) return void hostPorts(CLUSTER_URL.exec(url)![1]!, 'redis-cluster://');
  if (SENTINEL_URL.test(url)) return void hostPorts(SENTINEL_URL.exec(url)![1]!, 'redis-sentinel://');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw InvalidArgumentError.format('history.redis', `not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw InvalidArgumentError.format('history.redis', `expected redis://, rediss://, redis-cluster:// or redis-sentinel://, got ${JSON.stringify(url)}`);
}

function connect(target: RedisTarget, commandTimeout: number): { client: Redis | Cluster; owned: boolean } {
  if (target instanceof Redis || target instanceof Cluster) return { client: target, owned: false };
  if (typeof (target as Partial<RedisClient>).defineCommand === 'function') throw InvalidArgumentError.format('history.redis', 'must be an ioredis Redis or Cluster of the ioredis fulcrum uses');
  const common = { lazyConnect: true, enableAutoPipelining: true, autoPipeliningIgnoredCommands: UNPIPELINED, commandTimeout, maxRetriesPerRequest: 2 } satisfies RedisOptions;
  if (typeof target === 'string') {
    checkRedisUrl(target);
    const cluster = CLUSTER_URL.exec(target);
    if (cluster) return { client: new Cluster(hostPorts(cluster[1]!, 'redis-cluster://'), { lazyConnect: true, enableAutoPipelining: true, redisOptions: { commandTimeout, maxRetriesPerRequest: 2 } }), owned: true };
    const sentinel = SENTINEL_URL.exec(target);
    if (sentinel) return { client: new Redis({ ...common, sentinels: hostPorts(sentinel[1]!, 'redis-sentinel://'), name: decodeURIComponent(sentinel[2]!) }), owned: true };
    return { client: new Redis(target, common), owned: true };
  }
  if ('cluster' in target && Array.isArray(target.cluster)) {
    const options = (target.options ?? {}) as ClusterOptions;
    return { client: new Cluster(target.cluster as ClusterNode[], { lazyConnect: true, enableAutoPipelining: true, ...options, redisOptions: { commandTimeout, maxRetriesPerRequest: 2, ...options.redisOptions } }), owned: true };
  }
  return { client: new Redis({ ...common, ...(target as RedisOptions) }), owned: true };
}

function unavailable(op: string, e: unknown): HistoryUnavailableError {
  return e instanceof HistoryUnavailableError ? e : new HistoryUnavailableError(`${op} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/**
 * History in Redis Streams (ioredis): per stream one XADD-trimmed stream of entries `<offset>-0`
 * and a meta hash (epoch, last offset, acked cursor), written by Lua scripts so they move together.
 * Works with a standalone Redis, Sentinel and Redis Cluster (keys of a stream share a hash tag).
 * Appends go out group-committed (see flushAppends); reads issued in the same tick go out as one
 * pipeline (ioredis auto-pipelining).
 */
export class RedisHistory implements HistoryEngine {
  readonly kind = 'redis' as const;
  readonly limits: HistoryLimits;
  private readonly redis: Redis | Cluster;
  private readonly client: Client;
  private readonly owned: boolean;
  private readonly prefix: string;
  private started: Promise<void> | undefined;
  private ready = false;
  /** Appends waiting for the next script call (not on Redis Cluster: one call's keys must share a slot). */
  private queued: QueuedAppend[] = [];
  /** A flush is scheduled (setImmediate) or waits for a call to answer. */
  private flushPending = false;
  private appendCalls = 0;
  private readonly batching: boolean;
  /** Script calls that carried appends, and the appends they carried. */
  readonly appendStats = { calls: 0, appends: 0 };

  constructor(options: RedisHistoryOptions) {
    this.limits = resolveHistoryLimits(options);
    this.prefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    if (typeof this.prefix !== 'string' || this.prefix.length === 0 || /[{}]/.test(this.prefix)) throw InvalidArgumentError.format('history.keyPrefix', 'must be a non-empty string without { or }');
    const timeout = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    const { client, owned } = connect(options.redis, timeout);
    this.redis = client;
    this.owned = owned;
    client.defineCommand('fulcrumAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    client.defineCommand('fulcrumRead', { numberOfKeys: 2, lua: READ_LUA });
    // Keys vary per call: the count comes first.
    client.defineCommand('fulcrumAck', { lua: ACK_LUA });
    client.defineCommand('fulcrumAppendMany', { lua: APPEND_MANY_LUA });
    this.batching = !(client instanceof Cluster);
    // ioredis reports connection trouble as 'error' events; commands fail on their own (HistoryUnavailableError).
    client.on('error', () => {});
    this.client = client as Client;
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      const status = this.redis.status;
      if (status === 'wait') await this.redis.connect();
      this.ready = true;
    })().catch((e: unknown) => {
      this.started = undefined;
      throw unavailable('connect', e);
    });
    return this.started;
  }

  async append(stream: StreamRef, entry: NewEntry, opts: AppendOptions = {}): Promise<StreamPosition> {
    if (!this.ready) await this.start();
    const stored: Stored = entry.from === undefined ? { i: entry.id, b: entry.body } : { i: entry.id, b: entry.body, f: entry.from };
    const keyed = opts.idempotencyKey !== undefined;
    if (this.batching && !keyed) {
      return new Promise((resolve, reject) => {
        this.queued.push({ stream, payload: packr.pack(stored), resolve, reject });
        if (!this.flushPending && this.appendCalls < APPEND_CALLS_IN_FLIGHT) {
          this.flushPending = true;
          setImmediate(() => this.flushAppends());
        }
      });
    }
    const k = streamKeys(this.prefix, stream);
    const limits = stream.kind === 'user' ? this.limits.users : this.limits.rooms;
    this.appendStats.calls++;
    this.appendStats.appends++;
    try {
      const [offset, epoch] = await this.client.fulcrumAppend(
        k.stream,
        k.meta,
        keyed ? `${k.tag}:i:${opts.idempotencyKey}` : k.meta,
        packr.pack(stored),
        limits.maxMessages,
        limits.ttlMs,
        this.limits.metaTtlMs,
        newEpoch(),
        keyed ? '1' : '0',
        this.limits.idempotencyTtlMs,
      );
      return { epoch: String(epoch), offset: Number(offset) };
    } catch (e) {
      throw unavailable('append', e);
    }
  }

  appendMany(items: readonly { stream: StreamRef; entry: NewEntry; opts?: AppendOptions }[]): Promise<StreamPosition[]> {
    // Issued in one turn: one script call per APPEND_BATCH (standalone, Sentinel), or one pipeline per node (Cluster).
    return Promise.all(items.map((i) => this.append(i.stream, i.entry, i.opts)));
  }

  /** Sends the queued appends: one script call per APPEND_BATCH, in order, while calls are free. */
  private flushAppends(): void {
    this.flushPending = false;
    while (this.queued.length > 0 && this.appendCalls < APPEND_CALLS_IN_FLIGHT) {
      const batch = this.queued.length <= APPEND_BATCH ? this.queued : this.queued.slice(0, APPEND_BATCH);
      this.queued = batch === this.queued ? [] : this.queued.slice(APPEND_BATCH);
      const keys: string[] = [];
      const args: (string | number | Buffer)[] = [this.limits.metaTtlMs, newEpoch()];
      for (const q of batch) {
        const k = streamKeys(this.prefix, q.stream);
        const limits = q.stream.kind === 'user' ? this.limits.users : this.limits.rooms;
        keys.push(k.stream, k.meta);
        args.push(q.payload, limits.maxMessages, limits.ttlMs);
      }
      this.appendStats.calls++;
      this.appendStats.appends += batch.length;
      this.appendCalls++;
      this.client.fulcrumAppendMany(keys.length, keys, args).then(
        (out) => {
          for (let j = 0; j < batch.length; j++) batch[j]!.resolve({ offset: Number(out[2 * j]), epoch: String(out[2 * j + 1]) });
          this.appended();
        },
        (e: unknown) => {
          // The store failed this call: the appends waiting behind it fail with it rather than
          // each waiting out its own timeout in turn (nothing of theirs was sent).
          const err = unavailable('append', e);
          const waiting = this.queued;
          this.queued = [];
          this.appendCalls--;
          for (const q of batch) q.reject(err);
          for (const q of waiting) q.reject(err);
        },
      );
    }
  }

  /** A call answered: what queued meanwhile goes out now (no extra turn: it has waited already). */
  private appended(): void {
    this.appendCalls--;
    if (this.queued.length > 0 && !this.flushPending) this.flushAppends();
  }

  async read(stream: StreamRef, opts: ReadOptions): Promise<HistoryPage> {
    await this.start();
    const k = streamKeys(this.prefix, stream);
    const limits = stream.kind === 'user' ? this.limits.users : this.limits.rooms;
    const from = opts.from;
    const [mode, epoch, offset] =
      from === 'acked' ? ['a', '', 0] : from === 'start' ? ['s', '', 0] : from === 'top' ? ['t', '', 0] : 'offset' in from ? ['o', '', from.offset] : ['p', from.position.epoch, from.position.offset];
    const limit = Math.max(0, Math.min(MAX_HISTORY_READ, opts.limit));
    try {
      const [e, top, after, recovered, raw] = await this.client.fulcrumReadBuffer(k.stream, k.meta, mode, epoch, offset, limit, limits.ttlMs, this.limits.metaTtlMs, newEpoch());
      const entries: HistoryEntry[] = raw.map(([id, fields]) => {
        const s = unpackr.unpack(fields[1]!) as Stored;
        const entry: HistoryEntry = { id: s.i, body: s.b, offset: Number.parseInt(id.toString('latin1'), 10), at: Number(fields[3]!.toString('latin1')) };
        if (s.f !== undefined) entry.from = s.f;
        return entry;
      });
      return { epoch: e.toString('utf8'), offset: Number(top), after: Number(after), recovered: Number(recovered) === 1, entries };
    } catch (e) {
      throw unavailable('read', e);
    }
  }

  async ack(cursors: readonly AckedCursor[]): Promise<void> {
    if (cursors.length === 0) return;
    await this.start();
    // One script call per batch of users; in Redis Cluster one per user (their keys are in different slots).
    const batch = this.redis instanceof Cluster ? 1 : ACK_BATCH;
    const calls: Promise<number>[] = [];
    for (let i = 0; i < cursors.length; i += batch) {
      const part = cursors.slice(i, i + batch);
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const c of part) {
        keys.push(streamKeys(this.prefix, { kind: 'user', name: c.user }).meta);
        args.push(c.position.epoch, c.position.offset);
      }
      calls.push(this.client.fulcrumAck(part.length, keys, args));
    }
    try {
      await Promise.all(calls);
    } catch (e) {
      throw unavailable('ack', e);
    }
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    if (this.redis.status === 'wait' || this.redis.status === 'end') return void this.redis.disconnect();
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
