import { EventEmitter } from 'node:events';
import { ClosedError } from '../errors.js';
import { reportError } from '../log/report-error.js';
import type { Logger } from '../log/logger.js';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import type { ZkClient } from '../zk/zk-client.js';
import { DEFAULT_ROOT, mkdirp, validateRoot } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import { sessionClient, toServerInfo, warnMalformedOnce, type MalformedHandler } from './read-servers.js';
import { DepartedMemory, EMPTY_SNAPSHOT, makeSnapshot, type ServerInfo, type ServerSource, type Snapshot } from './snapshot.js';

/** Full re-read of the root as a safety net against a missed watch. */
export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;
export const MIN_RESYNC_INTERVAL_MS = 1_000;
/** Backoff of the retry after a read failed with connection loss / timeout while connected. */
export const RETRY_MIN_DELAY_MS = 100;
export const RETRY_MAX_DELAY_MS = 5_000;

export interface ServerCacheOptions {
  /** Supervised ZooKeeper session; the cache uses it but never closes it. */
  session: ZkSession;
  /** @default DEFAULT_ROOT ('/fulcrum/servers'); created (persistent) when missing. */
  root?: string;
  /** @default warns once per node name and error message via process.emitWarning */
  onMalformed?: MalformedHandler;
  /** Period of the full re-read; 0 disables it, other values are clamped to ≥ 1000. @default 30000 */
  resyncIntervalMs?: number;
  /** Where failures go when nobody listens for 'error' (see reportError). @default defaultLogger() */
  logger?: Logger;
}

export interface ServerCacheEvents {
  added: [server: ServerInfo];
  removed: [server: ServerInfo];
  updated: [next: ServerInfo, previous: ServerInfo];
  /** After each batch of changes (coalesced per event-loop turn). */
  snapshot: [snapshot: Snapshot];
  /** Failures other than connection loss; logged instead when nobody listens. Counted in `stats.errors`. */
  error: [err: Error];
}

export interface ServerCacheStats {
  /** Watch notifications received for the root or its children. */
  watchEvents: number;
  /** get / get_children calls issued. */
  reads: number;
  /** Full re-reads (start, reconnect, new session, timer, retry). */
  resyncs: number;
  /** Malformed node versions seen. */
  malformed: number;
  /** Failures other than connection loss, whether emitted or logged. */
  errors: number;
}

interface NodeEntry {
  /** Newest stat seen for this name; older reads are dropped. */
  mzxid: number;
  version: number;
  /** Undefined while the data is malformed: the node is watched but not served. */
  info: ServerInfo | undefined;
}

/** One coalesced read loop: while it runs, new requests only set `dirty`. */
interface Run {
  dirty: boolean;
  done: Promise<boolean>;
}

type WatchListener = (path: string) => void;

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // nobody may be awaiting start(); never an unhandled rejection
  return { promise, resolve, reject };
}

function sameInfo(a: ServerInfo, b: ServerInfo): boolean {
  const ka = Object.keys(a) as (keyof ServerInfo)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/**
 * The watch-driven discovery: the live servers and their balances, kept in memory.
 *
 * Boolean watches only (w_* watchers leak their closures), with exactly one listener per
 * event kind on the current handle. Reads of one path are coalesced, and a read never
 * replaces newer data (mzxid). The last picture survives disconnects; reconnects and new
 * sessions trigger a full re-read that is diffed against it.
 */
export class ServerCache extends EventEmitter<ServerCacheEvents> implements ServerSource {
  readonly root: string;
  readonly stats: ServerCacheStats = { watchEvents: 0, reads: 0, resyncs: 0, malformed: 0, errors: 0 };

  private readonly session: ZkSession;
  private readonly onMalformed: MalformedHandler;
  private readonly resyncIntervalMs: number;

  private zk: ZkClient | undefined;
  private unwatch: (() => void) | undefined;
  private readonly logger: Logger | undefined;
  /** Names in the newest child list (minus deletions seen since). */
  private readonly children = new Set<string>();
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly gets = new Map<string, Run>();
  private listRun: Run | undefined;
  private listAll = false;

  private snap: Snapshot = EMPTY_SNAPSHOT;
  private readonly departed = new DepartedMemory();
  private changed = false;
  private flushScheduled = false;
  private lastEmitted: Snapshot = EMPTY_SNAPSHOT;
  private loaded = false;
  private closed = false;
  private starting: Promise<void> | undefined;
  private readonly ready = deferred();

  private needResync = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private resyncTimer: NodeJS.Timeout | undefined;

  // Bound once so the very same functions can be removed from the handle / session.
  private readonly onChild: WatchListener = (path) => {
    if (path !== this.root) return;
    this.stats.watchEvents++;
    void this.refreshChildren(false);
  };
  private readonly onChanged: WatchListener = (path) => {
    const name = this.childName(path);
    if (name === undefined || !this.children.has(name)) return;
    this.stats.watchEvents++;
    void this.refreshNode(name); // re-arms the one-shot data watch
  };
  private readonly onDeleted: WatchListener = (path) => {
    if (path === this.root) {
      this.stats.watchEvents++;
      void this.refreshChildren(false); // NONODE there re-creates the root
      return;
    }
    const name = this.childName(path);
    if (name === undefined || !this.children.has(name)) return;
    this.stats.watchEvents++;
    // Faster than waiting for the child list; a re-created name comes back through it.
    this.children.delete(name);
    this.drop(name);
  };
  private readonly onCreated: WatchListener = (path) => {
    if (path !== this.root) return;
    this.stats.watchEvents++;
    void this.refreshChildren(false);
  };
  private readonly onSession = (): void => {
    let zk: ZkClient;
    try {
      zk = this.session.client; // the handle the event announces
    } catch {
      return;
    }
    if (this.closed || zk === this.zk) return;
    this.adopt(zk);
    void this.resync(); // the old session's watches are gone; diff against the old picture
  };
  private readonly onReconnected = (): void => {
    if (this.closed) return;
    void this.resync(); // watches survive a reconnect, but a lost read may not have been retried
  };
  private readonly onExpired = (): void => {
    this.detach(); // the handle is dead; keep the picture until the new session re-reads
  };

  constructor(opts: ServerCacheOptions) {
    super();
    this.session = opts.session;
    this.root = validateRoot(opts.root ?? DEFAULT_ROOT);
    this.onMalformed = opts.onMalformed ?? warnMalformedOnce(this.root);
    this.logger = opts.logger;
    const every = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    this.resyncIntervalMs = every > 0 ? Math.max(every, MIN_RESYNC_INTERVAL_MS) : 0;
  }

  /** Resolves once the first full picture is loaded; rejects if the cache is closed first or the root cannot be read. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.closed) throw new ClosedError('ServerCache');
    this.session.on('session', this.onSession);
    this.session.on('reconnected', this.onReconnected);
    this.session.on('expired', this.onExpired);
    const zk = await sessionClient(this.session);
    if (this.closed) throw new ClosedError('ServerCache');
    if (this.stats.resyncs === 0) {
      // Not yet picked up by onSession (which fires when session.start() made the handle just now).
      this.adopt(zk);
      void this.resync();
    }
    if (this.resyncIntervalMs > 0) {
      this.resyncTimer = setInterval(() => {
        if (this.session.isConnected) void this.resync();
      }, this.resyncIntervalMs);
      this.resyncTimer.unref();
    }
    await this.ready.promise;
  }

  async snapshot(): Promise<Snapshot> {
    await this.start();
    return this.current();
  }

  /** The newest picture; the same object until something changes. EMPTY_SNAPSHOT before the first load. */
  current(): Snapshot {
    if (this.changed && this.loaded) {
      this.changed = false;
      const live = this.liveServers();
      const at = Date.now();
      this.snap = makeSnapshot(live, this.snap.version + 1, at, { live: true, departed: this.departed.observe(live, at) });
    }
    return this.snap;
  }

  /** Removes every listener and timer; the session stays open (it is not ours). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.off('session', this.onSession);
    this.session.off('reconnected', this.onReconnected);
    this.session.off('expired', this.onExpired);
    this.detach();
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.resyncTimer = this.retryTimer = undefined;
    this.ready.reject(new ClosedError('ServerCache'));
  }

  // ---- handle listeners -------------------------------------------------------------------

  private adopt(zk: ZkClient): void {
    this.detach();
    this.zk = zk;
    this.unwatch = zk.watch({ child: this.onChild, changed: this.onChanged, deleted: this.onDeleted, created: this.onCreated });
  }

  private detach(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.zk = undefined;
  }

  private childName(path: string): string | undefined {
    if (path.length <= this.root.length + 1 || !path.startsWith(this.root) || path[this.root.length] !== '/') return undefined;
    const name = path.slice(this.root.length + 1);
    return name.includes('/') ? undefined : name;
  }

  private handle(): ZkClient {
    if (!this.zk) throw new ClosedError('ZooKeeper session'); // between expiry and the new session
    return this.zk;
  }

  // ---- reads ------------------------------------------------------------------------------

  /** Full re-read: the child list plus every child's data, each re-arming its watch. */
  private resync(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.stats.resyncs++;
    this.needResync = false;
    return this.refreshChildren(true);
  }

  /** Coalesced: while a list is in flight, callers only mark it dirty; one more list follows. */
  private refreshChildren(all: boolean): Promise<boolean> {
    if (all) this.listAll = true;
    if (this.listRun) {
      this.listRun.dirty = true;
      return this.listRun.done;
    }
    const run: Run = { dirty: true, done: Promise.resolve(false) };
    this.listRun = run;
    run.done = this.runList(run).catch((e: unknown) => this.unexpected(e));
    return run.done;
  }

  private async runList(run: Run): Promise<boolean> {
    const reads: Promise<boolean>[] = [];
    let ok = false;
    try {
      while (run.dirty && !this.closed) {
        run.dirty = false;
        const all = this.listAll;
        this.listAll = false;
        try {
          const zk = this.handle();
          this.stats.reads++;
          const names = await zk.children(this.root, true);
          if (this.closed) break;
          reads.push(...this.applyChildren(names, all));
          ok = true;
        } catch (e) {
          ok = false;
          if (all) this.listAll = true; // the full pass still has to happen
          if (isZk(e, C.ZNONODE) && !this.closed) {
            // Root missing: create it (servers will register under it) and list again.
            try {
              await mkdirp(this.handle(), this.root);
              run.dirty = true;
            } catch (e2) {
              this.failed('mkdirp', this.root, e2);
            }
          } else {
            this.failed('get_children', this.root, e);
          }
        }
      }
    } finally {
      // Cleared synchronously after the last dirty check, so no request can slip in between.
      if (this.listRun === run) this.listRun = undefined;
    }
    const results = await Promise.all(reads);
    // Complete: the last list worked, every read it started worked, and no full pass is still owed.
    const complete = ok && results.every(Boolean) && !this.listAll;
    if (complete) this.markLoaded();
    return complete;
  }

  /** Diffs a child list against the picture; returns the reads it started. */
  private applyChildren(names: string[], all: boolean): Promise<boolean>[] {
    const next = new Set(names);
    for (const name of [...this.children]) {
      if (!next.has(name)) {
        this.children.delete(name);
        this.drop(name);
      }
    }
    const reads: Promise<boolean>[] = [];
    for (const name of next) {
      const known = this.children.has(name);
      this.children.add(name);
      if (!known || all) reads.push(this.refreshNode(name));
    }
    return reads;
  }

  /** Coalesced per path like the child list; resolves false when the last read failed. */
  private refreshNode(name: string): Promise<boolean> {
    const cur = this.gets.get(name);
    if (cur) {
      cur.dirty = true;
      return cur.done;
    }
    const run: Run = { dirty: true, done: Promise.resolve(false) };
    this.gets.set(name, run);
    run.done = this.runGet(name, run).catch((e: unknown) => this.unexpected(e));
    return run.done;
  }

  private async runGet(name: string, run: Run): Promise<boolean> {
    const path = `${this.root}/${name}`;
    let ok = false;
    try {
      while (run.dirty && !this.closed && this.children.has(name)) {
        run.dirty = false;
        try {
          const zk = this.handle();
          this.stats.reads++;
          const { stat, data } = await zk.get(path, true);
          this.applyData(name, stat.mzxid, stat.version, data);
          ok = true;
        } catch (e) {
          if (isZk(e, C.ZNONODE)) {
            // Gone; the child watch reports it too, but do not wait for that.
            this.children.delete(name);
            this.drop(name);
            ok = true;
          } else {
            ok = false;
            this.failed('get', path, e);
          }
        }
      }
    } finally {
      if (this.gets.get(name) === run) this.gets.delete(name);
    }
    // A name dropped from the list counts as done: nothing is owed for it.
    return ok || !this.children.has(name);
  }

  private applyData(name: string, mzxid: number, version: number, data: Buffer): void {
    if (this.closed || !this.children.has(name)) return; // removed while the read was in flight
    const prev = this.nodes.get(name);
    // Never regress: an older (or the same) write than the one we hold changes nothing.
    if (prev && (mzxid < prev.mzxid || (mzxid === prev.mzxid && version <= prev.version))) return;
    const decoded = toServerInfo(name, data, (n, err) => {
      this.stats.malformed++;
      try {
        this.onMalformed(n, err);
      } catch (e) {
        this.report(e instanceof Error ? e : new Error(String(e)));
      }
    });
    // Kept even when malformed: the data watch stays armed and a later valid write shows up.
    const info = decoded && Object.freeze(decoded);
    this.nodes.set(name, { mzxid, version, info });
    const before = prev?.info;
    if (info && !before) this.emitChange('added', info);
    else if (!info && before) this.emitChange('removed', before);
    else if (info && before && !sameInfo(info, before)) this.emitChange('updated', info, before);
  }

  private drop(name: string): void {
    const prev = this.nodes.get(name);
    this.nodes.delete(name);
    if (prev?.info) this.emitChange('removed', prev.info);
  }

  private emitChange(kind: 'added' | 'removed', info: ServerInfo): void;
  private emitChange(kind: 'updated', info: ServerInfo, before: ServerInfo): void;
  private emitChange(kind: 'added' | 'removed' | 'updated', info: ServerInfo, before?: ServerInfo): void {
    this.changed = true;
    this.scheduleFlush();
    // A throwing listener must not break the read loops.
    try {
      if (kind === 'updated') this.emit('updated', info, before!);
      else this.emit(kind, info);
    } catch (e) {
      this.report(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** One 'snapshot' per event-loop turn: pipelined responses that arrive together form one batch. */
  private scheduleFlush(): void {
    if (this.flushScheduled || !this.loaded) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.closed) return;
      const snap = this.current();
      if (snap === this.lastEmitted) return; // nothing new since the last announcement
      this.lastEmitted = snap;
      try {
        this.emit('snapshot', snap);
      } catch (e) {
        this.report(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private markLoaded(): void {
    this.retryAttempt = 0;
    if (this.loaded || this.closed) return;
    this.loaded = true;
    this.changed = true; // the first picture is version 1 even when the root is empty
    this.ready.resolve();
    this.scheduleFlush();
  }

  private liveServers(): ServerInfo[] {
    const out: ServerInfo[] = [];
    for (const e of this.nodes.values()) if (e.info) out.push(e.info);
    return out;
  }

  // ---- failures ---------------------------------------------------------------------------

  private failed(op: string, path: string, e: unknown): void {
    if (this.closed) return;
    if (isConnectionProblem(e)) {
      // Retried by the reconnect / new-session resync, or by the timer if we are still connected.
      this.needResync = true;
      this.scheduleRetry();
      return;
    }
    const err = e instanceof Error ? e : new Error(`${op} ${path}: ${String(e)}`);
    if (!this.loaded && op !== 'get') {
      this.ready.reject(err); // the root itself cannot be read: start() must not hang
    }
    this.report(err);
  }

  private report(err: Error): void {
    this.stats.errors++;
    try {
      reportError(this, err, this.logger, { component: 'ServerCache', root: this.root });
    } catch {
      // A throwing 'error' listener must not break the read loops (or reject a floating promise).
    }
  }

  /** A bug, not a ZooKeeper failure: report it and make sure the next timer pass re-reads everything. */
  private unexpected(e: unknown): boolean {
    this.report(e instanceof Error ? e : new Error(String(e)));
    this.needResync = true;
    this.scheduleRetry();
    return false;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = Math.min(RETRY_MIN_DELAY_MS * 2 ** this.retryAttempt++, RETRY_MAX_DELAY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || !this.needResync) return;
      if (this.session.isConnected && this.zk) void this.resync();
      else this.scheduleRetry(); // 'reconnected' / 'session' usually gets there first
    }, delay);
    this.retryTimer.unref();
  }
}
