import { EventEmitter } from 'node:events';
import { ClosedError } from '../../errors.js';
import { sessionClient } from '../../discovery/read-servers.js';
import { C, isZk } from '../../zk/codes.js';
import { mkdirp } from '../../zk/paths.js';
import type { ZkSession } from '../../zk/session.js';
import type { ZkClient } from '../../zk/zk-client.js';
import { compareLogins, serverOfShard, type Route } from './route.js';
import { decodeShard } from './shard-codec.js';

/** Backoff of a failed read before it is tried again. */
export const ROUTE_READ_RETRY_MS = 250;

export interface RouteTableOptions {
  session: ZkSession;
  routesRoot: string;
  /** Told about every route added or changed in a shard (whether or not it is the user's best). */
  onRoute?: (user: string, route: Route) => void;
}

export interface RouteTableEvents {
  /** After each applied shard read or removal: the users whose entries changed. */
  changed: [users: readonly string[]];
  error: [Error];
}

interface ShardState {
  mzxid: number;
  server: string;
  users: Map<string, readonly [number, number]>;
}


/**
 * Every router's view of the route table: the shard nodes under the routes root, read with
 * boolean watches into one in-memory map user → routes (usually one; two while a user moves
 * between servers). `best(user)` is the latest login among them.
 */
export class RouteTable extends EventEmitter<RouteTableEvents> {
  readonly stats = { reads: 0, watchEvents: 0, resyncs: 0, failures: 0 };
  private zk: ZkClient | undefined;
  private unwatch: (() => void) | undefined;
  private readonly shards = new Map<string, ShardState>();
  private readonly users = new Map<string, Route[]>();
  private readonly reading = new Map<string, { dirty: boolean }>();
  private listing: { dirty: boolean } | undefined;
  private closed = false;
  private started: Promise<void> | undefined;

  private readonly onChild = (path: string) => {
    if (path !== this.options.routesRoot) return;
    this.stats.watchEvents++;
    void this.list();
  };
  private readonly onChanged = (path: string) => {
    const name = this.shardOfPath(path);
    if (name === undefined) return;
    this.stats.watchEvents++;
    void this.read(name);
  };
  private readonly onDeleted = (path: string) => {
    const name = this.shardOfPath(path);
    if (name === undefined) return;
    this.stats.watchEvents++;
    this.drop(name);
  };
  private readonly onSession = () => {
    let zk: ZkClient;
    try {
      zk = this.options.session.client;
    } catch {
      return;
    }
    if (this.closed || zk === this.zk) return;
    this.adopt(zk);
    void this.resync();
  };
  private readonly onReconnected = () => {
    if (!this.closed) void this.resync();
  };

  constructor(private readonly options: RouteTableOptions) {
    super();
    this.setMaxListeners(0); // every waiting push listens for a moment
  }

  /** Loads every shard once; later changes arrive through watches. */
  start(): Promise<void> {
    this.started ??= (async () => {
      if (this.closed) throw new ClosedError('RouteTable');
      this.options.session.on('session', this.onSession);
      this.options.session.on('reconnected', this.onReconnected);
      const zk = await sessionClient(this.options.session);
      await mkdirp(zk, this.options.routesRoot);
      if (this.zk !== zk) this.adopt(zk);
      await this.resync();
    })();
    return this.started;
  }

  /** The latest login of `user`, or undefined when it is not online. */
  best(user: string): Route | undefined {
    const list = this.users.get(user);
    if (!list || list.length === 0) return undefined;
    let best = list[0]!;
    for (let i = 1; i < list.length; i++) if (compareLogins(list[i]!, best) > 0) best = list[i]!;
    return best;
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
    this.options.session.off('session', this.onSession);
    this.options.session.off('reconnected', this.onReconnected);
    this.detach();
  }

  private adopt(zk: ZkClient): void {
    this.detach();
    this.zk = zk;
    this.unwatch = zk.watch({ child: this.onChild, changed: this.onChanged, deleted: this.onDeleted });
  }

  private detach(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.zk = undefined;
  }

  private shardOfPath(path: string): string | undefined {
    const root = this.options.routesRoot;
    if (!path.startsWith(root) || path[root.length] !== '/') return undefined;
    const name = path.slice(root.length + 1);
    return name.includes('/') || serverOfShard(name) === undefined ? undefined : name;
  }

  private async resync(): Promise<void> {
    this.stats.resyncs++;
    await this.list(true);
  }

  /** Coalesced child listing; with `all`, every shard is read again too. */
  private async list(all = false): Promise<void> {
    if (this.listing) {
      this.listing.dirty = true;
      if (!all) return;
    }
    const run = { dirty: true };
    this.listing = run;
    const reads: Promise<void>[] = [];
    try {
      while (run.dirty && !this.closed) {
        run.dirty = false;
        const zk = this.zk;
        if (!zk) return;
        let names: string[];
        try {
          this.stats.reads++;
          names = (await zk.children(this.options.routesRoot, true)).filter((n) => serverOfShard(n) !== undefined);
        } catch (e) {
          this.failed(e);
          if (isZk(e, C.ZNONODE)) await mkdirp(zk, this.options.routesRoot).catch(() => {});
          setTimeout(() => void this.list(all), ROUTE_READ_RETRY_MS).unref();
          return;
        }
        const next = new Set(names);
        for (const name of [...this.shards.keys()]) if (!next.has(name)) this.drop(name);
        for (const name of names) if (all || !this.shards.has(name)) reads.push(this.read(name));
      }
    } finally {
      if (this.listing === run) this.listing = undefined;
    }
    await Promise.all(reads);
  }

  /** Coalesced per shard: while a read runs, a new change only marks it dirty. */
  private async read(name: string): Promise<void> {
    const cur = this.reading.get(name);
    if (cur) {
      cur.dirty = true;
      return;
    }
    const run = { dirty: true };
    this.reading.set(name, run);
    try {
      while (run.dirty && !this.closed) {
        run.dirty = false;
        const zk = this.zk;
        if (!zk) return;
        try {
          this.stats.reads++;
          const { stat, data } = await zk.get(`${this.options.routesRoot}/${name}`, true);
          this.apply(name, stat.mzxid, data);
        } catch (e) {
          if (isZk(e, C.ZNONODE)) {
            this.drop(name);
            return;
          }
          this.failed(e);
          setTimeout(() => void this.read(name), ROUTE_READ_RETRY_MS).unref();
          return;
        }
      }
    } finally {
      if (this.reading.get(name) === run) this.reading.delete(name);
    }
  }

  private apply(name: string, mzxid: number, data: Buffer): void {
    if (this.closed) return;
    const prev = this.shards.get(name);
    if (prev && mzxid <= prev.mzxid) return; // never regress to an older write
    const decoded = decodeShard(data);
    const server = serverOfShard(name)!;
    const users = decoded && decoded.server === server ? decoded.users : new Map<string, readonly [number, number]>();
    this.shards.set(name, { mzxid, server, users });
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

  private failed(e: unknown): void {
    this.stats.failures++;
    if (this.listenerCount('error') > 0 && !isZk(e, C.ZNONODE)) this.emit('error', e instanceof Error ? e : new Error(String(e)));
  }
}
