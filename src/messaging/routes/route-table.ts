import { EventEmitter } from 'node:events';
import { reportError } from '../../log/report-error.js';
import type { Logger } from '../../log/logger.js';
import type { SupervisedSession } from '../../zk/session.js';
import { WatchedFolder } from '../../zk/watched-folder.js';
import type { ZkNode } from '../../zk/zk-client.js';
import { candidateShards, compareLogins, parseShardName, serverOfShard, shardName, type Route } from './route.js';
import { RouteIndex } from './route-index.js';
import type { RouteView, RouteViewEvents } from './route-view.js';
import { bytesHash, encodeName, entryKey, entryName, parseShard, readEntry, sameBytes, type ShardEntry } from './shard-reader.js';

/** How long lookup() waits for its synced read before answering from memory. @default 1000 */
export const DEFAULT_LOOKUP_TIMEOUT_MS = 1_000;

export interface RouteTableOptions {
  session: SupervisedSession;
  routesRoot: string;
  /** Period of the full re-read of every shard; 0 disables it. @default DEFAULT_RESYNC_INTERVAL_MS (30000) */
  resyncIntervalMs?: number;
  /** @default DEFAULT_LOOKUP_TIMEOUT_MS (1000) */
  lookupTimeoutMs?: number;
  /** Where read failures go when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
}

/** `changed`: after each applied shard read or removal, the users whose entries changed; `error`: a read failed for another reason than connection loss (retried with backoff). */
export type RouteTableEvents = RouteViewEvents;

export interface RouteTableStats {
  reads: number;
  /** Bytes of shard data read. */
  readBytes: number;
  watchEvents: number;
  resyncs: number;
  /** Synced reads (lookup() of a user without a route). */
  syncs: number;
  /** Failures other than connection loss. */
  failures: number;
}

/** Bit of an index offset that points into the bytes being applied (set only inside replace()). */
const NEXT = 0x80000000;
const NO_BYTES = Buffer.alloc(0);
const NO_ENTRIES = new Uint32Array(0);

interface ShardState {
  /** Its reference in the index (≥ 1). */
  readonly ref: number;
  readonly name: string;
  readonly server: string;
  /** The shard's bytes as read (empty when they were not a shard). */
  bytes: Buffer;
  /** Where each of its valid entries starts in `bytes`. */
  entries: Uint32Array;
  /** While replace() runs: the new bytes, which offsets with the NEXT bit point into. */
  next: Buffer;
}

export class RouteTable extends EventEmitter<RouteTableEvents> implements RouteView {
  private readonly folder: WatchedFolder;
  private readonly shards = new Map<string, ShardState>();
  /** Shards by index reference; freed references are reused. */
  private readonly byRef: (ShardState | undefined)[] = [undefined];
  private readonly freeRefs: number[] = [];
  private readonly index = new RouteIndex();
  /** Distinct users with at least one entry. */
  private users = 0;
  private scratch: Buffer = Buffer.allocUnsafe(256);
  private readonly e1: ShardEntry = { keyStart: 0, keyEnd: 0, since: 0, seq: 0 };
  private readonly e2: ShardEntry = { keyStart: 0, keyEnd: 0, since: 0, seq: 0 };
  private readonly e3: ShardEntry = { keyStart: 0, keyEnd: 0, since: 0, seq: 0 };
  private failures = 0;
  private closed = false;

  constructor(private readonly options: RouteTableOptions) {
    super();
    this.setMaxListeners(0); // every waiting push listens for a moment
    this.folder = new WatchedFolder({
      session: options.session,
      path: options.routesRoot,
      accept: (name) => serverOfShard(name) !== undefined,
      resyncIntervalMs: options.resyncIntervalMs,
      sink: {
        data: (name, node) => this.apply(name, node),
        removed: (name) => this.drop(name),
        error: (err, ctx) => {
          this.failures++;
          reportError(this, err, options.logger, { component: 'RouteTable', ...ctx });
        },
      },
    });
  }

  get stats(): RouteTableStats {
    const { reads, readBytes, watchEvents, resyncs, syncs } = this.folder.stats;
    return { reads, readBytes, watchEvents, resyncs, syncs, failures: this.failures };
  }

  /** Loads every shard once; later changes arrive through watches. */
  start(): Promise<void> {
    return this.folder.start();
  }

  /** The latest login of `user`, or undefined when it is not online (as far as this table knows). A new object each call. */
  best(user: string): Route | undefined {
    const { buf, length } = encodeName(user, this.scratch);
    this.scratch = buf;
    const hash = bytesHash(buf, 0, length);
    let best: Route | undefined;
    const e = this.e1;
    for (let pos = this.index.next(hash); pos >= 0; pos = this.index.next(hash, pos)) {
      const st = this.byRef[this.index.ref(pos)]!;
      readEntry(st.bytes, this.index.offset(pos), e);
      if (!sameBytes(st.bytes, e.keyStart, e.keyEnd, buf, 0, length)) continue;
      const route: Route = { server: st.server, since: e.since, seq: e.seq, shard: st.name };
      if (!best || compareLogins(route, best) > 0) best = route;
    }
    return best;
  }

  /**
   * best(user), or when there is none (or `force`: the known route proved stale), one synced
   * read first: sync with the leader, list the
   * shards again and read the ones of each server that may hold the user. So a route whose shard
   * write ZooKeeper acknowledged before this call is found even if its watch notification has not
   * arrived. Answers from memory without ZooKeeper, or after `lookupTimeoutMs`.
   */
  async lookup(user: string, opts: { force?: boolean } = {}): Promise<Route | undefined> {
    const known = this.best(user);
    if ((known && !opts.force) || this.closed || !this.options.session.isConnected) return known;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, this.options.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS)));
    try {
      await Promise.race([this.syncedRead(user), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.best(user);
  }

  private async syncedRead(user: string): Promise<void> {
    if (!(await this.folder.synced())) return;
    const maxK = new Map<string, number>();
    for (const name of this.folder.names()) {
      const p = parseShardName(name)!;
      maxK.set(p.server, Math.max(p.k, maxK.get(p.server) ?? 0));
    }
    const reads: Promise<boolean>[] = [];
    for (const [server, top] of maxK) {
      for (const k of candidateShards(user, top)) {
        const name = shardName(server, k);
        if (this.folder.has(name)) reads.push(this.folder.refresh(name));
      }
    }
    await Promise.all(reads);
  }

  /** Users with at least one route. */
  get size(): number {
    return this.users;
  }

  /** Every online user (whose name starts with `prefix`) with its best route, in no particular order. */
  *entries(prefix = ''): IterableIterator<[string, Route]> {
    const p = Buffer.from(prefix, 'utf8');
    const e = this.e2;
    for (const st of this.shards.values()) {
      for (const at of st.entries) {
        entryKey(st.bytes, at, e);
        if (p.length > 0 && (e.keyEnd - e.keyStart < p.length || !sameBytes(st.bytes, e.keyStart, e.keyStart + p.length, p, 0, p.length))) continue;
        const user = entryName(st.bytes, at, e);
        const best = this.best(user);
        // Listed by the shard its best route is in, once (a user in two shards with one login: the one the index finds first).
        if (best && best.shard === st.name && this.firstWith(user, best, st, at) && user.startsWith(prefix)) yield [user, best];
      }
    }
  }

  /** Whether the entry at `at` of `st` is the first slot of `user` holding `best`'s login (so entries() lists a user once). */
  private firstWith(user: string, best: Route, st: ShardState, at: number): boolean {
    const { buf, length } = encodeName(user, this.scratch);
    this.scratch = buf;
    const hash = bytesHash(buf, 0, length);
    const e = this.e1;
    for (let pos = this.index.next(hash); pos >= 0; pos = this.index.next(hash, pos)) {
      const other = this.byRef[this.index.ref(pos)]!;
      readEntry(other.bytes, this.index.offset(pos), e);
      if (other.name !== best.shard || e.since !== best.since || e.seq !== best.seq) continue;
      if (!sameBytes(other.bytes, e.keyStart, e.keyEnd, buf, 0, length)) continue;
      return other === st && this.index.offset(pos) === at;
    }
    return false;
  }

  /** Resolves at the next change that touches `user` (or after `timeoutMs`, with false). */
  waitForChange(user: string | undefined, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const on = (users: readonly string[]) => {
        if (user !== undefined && !users.includes(user)) return;
        clearTimeout(timer);
        this.off('changed', on);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off('changed', on);
        resolve(false);
      }, timeoutMs);
      this.on('changed', on);
    });
  }

  close(): void {
    this.closed = true;
    this.folder.close();
  }

  private apply(name: string, node: ZkNode): void {
    if (this.closed) return;
    const parsed = parseShard(node.data);
    const server = serverOfShard(name)!;
    let st = this.shards.get(name);
    if (!st) {
      const ref = this.freeRefs.pop() ?? this.byRef.length;
      st = { ref, name, server, bytes: NO_BYTES, entries: NO_ENTRIES, next: NO_BYTES };
      this.byRef[ref] = st;
      this.shards.set(name, st);
    }
    // A shard that is not one, or names another server, routes nobody.
    const valid = parsed !== undefined && parsed.server === server;
    this.replace(st, valid ? node.data : NO_BYTES, valid ? parsed.entries : NO_ENTRIES);
  }

  private drop(name: string): void {
    const st = this.shards.get(name);
    if (!st) return;
    this.replace(st, NO_BYTES, NO_ENTRIES);
    this.shards.delete(name);
    this.byRef[st.ref] = undefined;
    this.freeRefs.push(st.ref);
  }

  /**
   * Gives a shard new bytes: updates the index entry by entry (kept, changed, added, removed)
   * and emits the users whose routes changed.
   */
  private replace(st: ShardState, bytes: Buffer, entries: Uint32Array): void {
    const changed: string[] | undefined = this.listenerCount('changed') > 0 ? [] : undefined;
    const index = this.index;
    const e = this.e1;
    const old = this.e2;
    st.next = bytes;
    // 1. Entries of the new bytes: point their slots there (marked NEXT), adding the missing ones.
    for (const at of entries) {
      readEntry(bytes, at, e);
      const hash = bytesHash(bytes, e.keyStart, e.keyEnd);
      const pos = this.slotIn(st, hash, bytes, e.keyStart, e.keyEnd);
      const marked = (at | NEXT) >>> 0;
      if (pos >= 0) {
        const off = index.offset(pos);
        // A key twice in the new bytes: the later one wins, as when decoding.
        if ((off & NEXT) === 0) {
          readEntry(st.bytes, off, old);
          if (old.since !== e.since || old.seq !== e.seq) changed?.push(entryName(bytes, at, e));
        }
        index.setOffset(pos, marked);
      } else {
        if (!this.listed(hash, bytes, e.keyStart, e.keyEnd)) this.users++;
        index.insert(hash, st.ref, marked);
        changed?.push(entryName(bytes, at, e));
      }
    }
    // 2. Entries of the old bytes still pointed at: gone from the shard.
    for (const at of st.entries) {
      entryKey(st.bytes, at, old);
      const hash = bytesHash(st.bytes, old.keyStart, old.keyEnd);
      for (let pos = index.next(hash); pos >= 0; pos = index.next(hash, pos)) {
        if (index.ref(pos) !== st.ref || index.offset(pos) !== at) continue;
        index.remove(pos);
        if (!this.listed(hash, st.bytes, old.keyStart, old.keyEnd)) this.users--;
        changed?.push(entryName(st.bytes, at, old));
        break;
      }
    }
    // 3. Unmark.
    for (const at of entries) {
      entryKey(bytes, at, e);
      const hash = bytesHash(bytes, e.keyStart, e.keyEnd);
      const marked = (at | NEXT) >>> 0;
      for (let pos = index.next(hash); pos >= 0; pos = index.next(hash, pos)) {
        if (index.ref(pos) === st.ref && index.offset(pos) === marked) {
          index.setOffset(pos, at);
          break;
        }
      }
    }
    st.bytes = bytes;
    st.entries = entries;
    st.next = NO_BYTES;
    if (changed && changed.length > 0) this.emit('changed', changed);
  }

  /** The bytes and offset a slot points into (the NEXT bit: the bytes being applied). */
  private keyAt(pos: number, key: ShardEntry): Buffer {
    const st = this.byRef[this.index.ref(pos)]!;
    const off = this.index.offset(pos);
    const bytes = (off & NEXT) !== 0 ? st.next : st.bytes;
    entryKey(bytes, off & ~NEXT, key);
    return bytes;
  }

  /** The slot of shard `st` whose user is buf[start, end), or -1. */
  private slotIn(st: ShardState, hash: number, buf: Buffer, start: number, end: number): number {
    const key = this.e2;
    for (let pos = this.index.next(hash); pos >= 0; pos = this.index.next(hash, pos)) {
      if (this.index.ref(pos) !== st.ref) continue;
      const bytes = this.keyAt(pos, key);
      if (sameBytes(bytes, key.keyStart, key.keyEnd, buf, start, end)) return pos;
    }
    return -1;
  }

  /** Whether any shard lists the user buf[start, end). */
  private listed(hash: number, buf: Buffer, start: number, end: number): boolean {
    const key = this.e3;
    for (let pos = this.index.next(hash); pos >= 0; pos = this.index.next(hash, pos)) {
      const bytes = this.keyAt(pos, key);
      if (sameBytes(bytes, key.keyStart, key.keyEnd, buf, start, end)) return true;
    }
    return false;
  }
}
