import { EventEmitter } from 'node:events';
import type { LoginOrder } from '../login-order.js';
import { compareLogins, sameRoute, type Route } from './route.js';
import type { RouteView, RouteViewEvents } from './route-view.js';

/** Routes of other servers' users an on-demand view remembers (least recently used first out). @default 10000 */
export const DEFAULT_ROUTE_CACHE_SIZE = 10_000;
/** A route learnt by asking the servers carries no shard: it was read from none. */
export const ASKED = '';

export interface RouteLookupStats {
  /** Lookups that asked the other servers. */
  asks: number;
  /** best() answered from the cache. */
  cacheHits: number;
  /** Routes cached now. */
  cached: number;
}

export interface RouteLookupOptions {
  /** This server's id. */
  server: string;
  /** The login of `user` this server holds, if any. */
  own: (user: string) => LoginOrder | undefined;
  /** Every user this server holds with its login. */
  ownUsers: () => Iterable<[string, LoginOrder]>;
  /** The count of users this server holds. */
  ownCount: () => number;
  /** Asks the other servers which login of `user` they hold (unreachable ones answer nothing). */
  ask: (user: string) => Promise<LoginOrder[]>;
  /** @default DEFAULT_ROUTE_CACHE_SIZE */
  cacheSize?: number;
}

/**
 * A server's view of the routes when it does not keep the whole table: its own users (from its
 * sessions), plus a bounded cache of other servers' users it looked up by asking the servers
 * (gateway `where`). A cached route is used until it proves stale (its server answers offline or
 * cannot be reached); then the router asks again. No ZooKeeper reads: the route shards are written
 * for the routers that keep the whole table (an allocation service, applications).
 */
export class RouteLookup extends EventEmitter<RouteViewEvents> implements RouteView {
  private readonly cache = new Map<string, Route>();
  private readonly cacheSize: number;
  private readonly statsNow = { asks: 0, hits: 0 };
  private closed = false;

  constructor(private readonly options: RouteLookupOptions) {
    super();
    this.setMaxListeners(0);
    this.cacheSize = Math.max(0, options.cacheSize ?? DEFAULT_ROUTE_CACHE_SIZE);
  }

  get stats(): RouteLookupStats {
    return { asks: this.statsNow.asks, cacheHits: this.statsNow.hits, cached: this.cache.size };
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  best(user: string): Route | undefined {
    const own = this.options.own(user);
    if (own) return { ...own, server: this.options.server, shard: ASKED };
    const r = this.cache.get(user);
    if (r) {
      this.statsNow.hits++;
      this.cache.delete(user); // most recently used last
      this.cache.set(user, r);
    }
    return r;
  }

  /** best(user), or when there is none (or `force`: the known route proved stale), the newest login the other servers answer with. */
  async lookup(user: string, opts: { force?: boolean } = {}): Promise<Route | undefined> {
    const known = this.best(user);
    if ((known && !opts.force) || this.closed) return known;
    if (this.options.own(user)) return this.best(user);
    this.statsNow.asks++;
    const answers = await this.options.ask(user);
    let newest: LoginOrder | undefined;
    for (const a of answers) if (!newest || compareLogins(a, newest) > 0) newest = a;
    const before = this.cache.get(user);
    if (newest) {
      this.cache.delete(user);
      this.cache.set(user, { since: newest.since, server: newest.server, seq: newest.seq, shard: ASKED });
      while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    } else this.cache.delete(user);
    if (!sameRoute(before, this.cache.get(user))) this.emit('changed', [user]);
    return this.best(user);
  }

  /** Asks again after `timeoutMs` (nothing watches other servers' routes); true when the route changed. */
  async waitForChange(user: string | undefined, timeoutMs: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, timeoutMs));
    if (user === undefined || this.closed) return false;
    const before = this.best(user);
    return !sameRoute(before, await this.lookup(user, { force: true }));
  }

  /** Users this server holds (other servers' users are not listed: ask a router that keeps the whole table). */
  get size(): number {
    return this.options.ownCount();
  }

  *entries(prefix = ''): IterableIterator<[string, Route]> {
    for (const [user, order] of this.options.ownUsers()) if (user.startsWith(prefix)) yield [user, { ...order, server: this.options.server, shard: ASKED }];
  }

  close(): void {
    this.closed = true;
    this.cache.clear();
  }
}
