import type { EventEmitter } from 'node:events';
import type { Route } from './route.js';

export interface RouteViewEvents {
  /** The users whose routes changed in this view. */
  changed: [users: readonly string[]];
  /** A background failure (a read); logged when nobody listens. */
  error: [Error];
}

/**
 * What a router routes by: the whole table from ZooKeeper watches (RouteTable), or a server's own
 * users plus routes it asks the other servers for (RouteLookup).
 */
export interface RouteView extends EventEmitter<RouteViewEvents> {
  start(): Promise<void>;
  /** The user's latest login as this view knows it now. */
  best(user: string): Route | undefined;
  /** best(user), or when there is none (or `force`: the known route proved stale), after looking again. */
  lookup(user: string, opts?: { force?: boolean }): Promise<Route | undefined>;
  /** Resolves at the next change of `user`'s route (false after `timeoutMs` without one). */
  waitForChange(user: string | undefined, timeoutMs: number): Promise<boolean>;
  /** Users with a route in this view. */
  readonly size: number;
  /** Those users (whose names start with `prefix`) with their best routes, in no particular order. */
  entries(prefix?: string): IterableIterator<[string, Route]>;
  close(): void;
}
