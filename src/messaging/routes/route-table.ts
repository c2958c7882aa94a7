import { EventEmitter } from 'node:events';
import { reportError } from '../../log/report-error.js';
import type { Logger } from '../../log/logger.js';
import type { SupervisedSession } from '../../zk/session.js';
import { WatchedFolder } from '../../zk/watched-folder.js';
import type { ZkNode } from '../../zk/zk-client.js';
import { candidateShards, compareLogins, parseShardName, serverOfShard, shardName, type Route } from './route.js';
import { decodeShard } from './shard-codec.js';

/** How long lookup() waits for its synced read before answering from memory. @default 1000 */
export const DEFAULT_LOOKUP_TIMEOUT_MS = 1_000;

export interface RouteTableOptions {
  session: SupervisedSession;
  routesRoot: string;
  /** Told about every route added or changed in a shard (whether or not it is the user's best). */
  onRoute?: (user: string, route: Route) => void;
  /** Period of the full re-read of every shard; 0 disables it. @default DEFAULT_RESYNC_INTERVAL_MS (30000) */
  resyncIntervalMs?: number;
  /** @default DEFAULT_LOOKUP_TIMEOUT_MS (1000) */
  lookupTimeoutMs?: number;
  /** Where read failures go when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
}

export interface RouteTableEvents {
  /** After each applied shard read or removal: the users whose entries changed. */
  changed: [users: readonly string[]];
  /** A read failed for another reason than connection loss (it is retried with backoff); logged when nobody listens. */
  error: [Error];
}

export interface RouteTableStats {
  reads: number;
  watchEvents: number;
  resyncs: number;
  /** Synced reads (lookup() of a user without a route). */
  syncs: number;
  /** Failures other than connection loss. */
  failures: number;
}

interface ShardState {
  server: string;
  users: Map<string, readonly [number, number]>;
}

/**
 * Every router's view of the route table: the shard nodes under the routes root, kept by a
 * WatchedFolder into one in-memory map user → routes (usually one; two while a user moves between
 * servers). `best(user)` is the latest login among them; `lookup(user)` adds one synced read of
 * the user's shards when no route is known.
 */
export class RouteTable extends EventEmitter<RouteTableEvents> {
  private readonly folder: WatchedFolder;
  private readonly shards = new Map<string, ShardState>();
  private readonly users = new Map<string, Route[]>();
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
    const { reads, watchEvents, resyncs, syncs } = this.folder.stats;
    return { reads, watchEvents, resyncs, syncs, failures: this.failures };
  }

  /** Loads every shard once; later changes arrive through watches. */
  start(): Promise<void> {
    return this.folder.start();
  }

  /** The latest login of `user`, or undefined when it is not online (as far as this table knows). */
  best(user: string): Route | undefined {
    const list = this.users.get(user);
    if (!list || list.length === 0) return undefined;
    let best = list[0]!;
    for (let i = 1; i < list.length; i++) if (compareLogins(list[i]!, best) > 0) best = list[i]!;
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
    return this.users.size;
  }

  /** Every online user with its best route. */
  *entries(): IterableIterator<[string, Route]> {
    for (const user of this.users.keys()) {
      const r = this.best(user);
      if (r) yield [user, r];
    }
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
    const prev = this.shards.get(name);
    const decoded = decodeShard(node.data);
    const server = serverOfShard(name)!;
    // A shard that is not one, or names another server, routes nobody.
    const users = decoded && decoded.server === server ? decoded.users : new Map<string, readonly [number, number]>();
    this.shards.set(name, { server, users });
    const changed: string[] = [];
    if (prev) {
      for (const user of prev.users.keys()) {
        if (!users.has(user)) {
          this.removeEntry(user, name);
          changed.push(user);
        }
      }
    }
    for (const [user, [since, seq]] of users) {
      const old = prev?.users.get(user);
      if (old && old[0] === since && old[1] === seq) continue;
      const route: Route = { server, since, seq, shard: name };
      const list = this.users.get(user);
      if (!list) this.users.set(user, [route]);
      else {
        const i = list.findIndex((r) => r.shard === name);
        if (i >= 0) list[i] = route;
        else list.push(route);
      }
      changed.push(user);
      this.options.onRoute?.(user, route);
    }
    if (changed.length > 0) this.emit('changed', changed);
  }

  private drop(name: string): void {
    const prev = this.shards.get(name);
    if (!prev) return;
    this.shards.delete(name);
    const changed = [...prev.users.keys()];
    for (const user of changed) this.removeEntry(user, name);
    if (changed.length > 0) this.emit('changed', changed);
  }

  private removeEntry(user: string, shard: string): void {
    const list = this.users.get(user);
    if (!list) return;
    const i = list.findIndex((r) => r.shard === shard);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.users.delete(user);
  }
}
