import { performance } from 'node:perf_hooks';
import { Backoff } from '../backoff.js';
import { ClosedError } from '../errors.js';
import { C, isConnectionProblem, isZk } from './codes.js';
import { mkdirp } from './paths.js';
import { sessionClient, type SupervisedSession } from './session.js';
import type { ZkClient, ZkNode } from './zk-client.js';

/** Full re-read of the folder as a safety net against a missed watch. */
export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;
export const MIN_RESYNC_INTERVAL_MS = 1_000;
/** Backoff of the re-read after a read failed with connection loss / timeout while connected. */
export const RETRY_MIN_DELAY_MS = 100;
export const RETRY_MAX_DELAY_MS = 5_000;

/** What a watched folder tells its owner; the owner gives the data meaning. */
export interface FolderSink {
  /** A child's data, newer than every read of it before (by mzxid, then version). */
  data(name: string, node: ZkNode): void;
  /** A child is gone (deleted, or no longer listed). */
  removed(name: string): void;
  /** A failure other than connection loss (those are retried quietly); the owner reports it. */
  error(err: Error, context: { op: string; path: string }): void;
  /** The first complete picture is in. */
  loaded?(): void;
}

export interface WatchedFolderOptions {
  /** Supervised session; the folder uses it but never closes it. */
  session: SupervisedSession;
  /** The folder; created (persistent) when missing. */
  path: string;
  sink: FolderSink;
  /** Children to follow; others are ignored. @default every child */
  accept?: (name: string) => boolean;
  /**
   * Watch each child's data and re-read it on every change. Without it a child is read when it
   * appears, at each resync and on refresh(). @default true
   */
  watchData?: boolean;
  /** Period of the full re-read; 0 disables it, other values are clamped to ≥ 1000. @default DEFAULT_RESYNC_INTERVAL_MS (30000) */
  resyncIntervalMs?: number;
  /**
   * A data watch that fires within this long after the child's last read waits until then: one
   * read covers every change meanwhile (the watch is re-armed by that read). First reads,
   * resyncs and refresh() are never held back. @default 0 (read at once)
   */
  minReadIntervalMs?: number;
}

export interface WatchedFolderStats {
  /** Watch notifications received for the folder or its children. */
  watchEvents: number;
  /** get / get_children calls issued. */
  reads: number;
  /** Bytes of child data read. */
  readBytes: number;
  /** Full re-reads (start, reconnect, new session, timer, retry). */
  resyncs: number;
  /** sync() calls issued for synced reads. */
  syncs: number;
}

/** One coalesced read loop: while it runs, new requests only set `dirty`; `done` covers a pass started after the request. */
interface Run {
  dirty: boolean;
  done: Promise<boolean>;
}

/** Joins the loop running now (marking it dirty, so it passes once more), or starts one. */
function joinRun(current: Run | undefined, register: (run: Run) => void, loop: (run: Run) => Promise<boolean>): Promise<boolean> {
  if (current) {
    current.dirty = true;
    return current.done;
  }
  const run: Run = { dirty: true, done: Promise.resolve(false) };
  register(run);
  run.done = loop(run);
  return run.done;
}

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

/**
 * The children of one ZooKeeper folder and their data, kept current: the one watched view of a
 * folder that the discovery cache, the route table and the gateway directory share.
 *
 * Boolean watches only (w_* watchers leak their closures), with exactly one listener per event
 * kind on the current handle. Reads of one path are coalesced; a read never replaces newer data
 * (mzxid, then version). What was read survives disconnects; reconnects, new sessions and a
 * periodic timer trigger a full re-read, diffed against it. Failed reads are retried with backoff.
 */
export class WatchedFolder {
  readonly path: string;
  private readonly statsNow: WatchedFolderStats = { watchEvents: 0, reads: 0, readBytes: 0, resyncs: 0, syncs: 0 };
  private readonly session: SupervisedSession;
  private readonly sink: FolderSink;
  private readonly accept: (name: string) => boolean;
  private readonly watchData: boolean;
  private readonly resyncIntervalMs: number;
  private readonly minReadIntervalMs: number;
  /** When each child's last read was issued (only kept with minReadIntervalMs). */
  private readonly lastReadAt = new Map<string, number>();
  /** Re-reads held back by minReadIntervalMs. */
  private readonly heldBack = new Map<string, NodeJS.Timeout>();

  private zk: ZkClient | undefined;
  private unwatch: (() => void) | undefined;
  /** Names in the newest child list (minus deletions seen since). */
  private readonly children = new Set<string>();
  /** Newest stat read per child; older reads are dropped. */
  private readonly seen = new Map<string, { mzxid: number; version: number }>();
  private readonly gets = new Map<string, Run>();
  private listRun: Run | undefined;
  private listAll = false;
  private syncRun: Run | undefined;

  private isLoaded = false;
  private closed = false;
  private starting: Promise<void> | undefined;
  private readonly ready = deferred();
  private needResync = false;
  private readonly retry = new Backoff({ baseMs: RETRY_MIN_DELAY_MS, maxMs: RETRY_MAX_DELAY_MS });
  private resyncTimer: NodeJS.Timeout | undefined;

  // Bound once so the very same functions can be removed from the handle / session.
  private readonly onChild = (path: string): void => {
    if (path !== this.path) return;
    this.statsNow.watchEvents++;
    void this.relist();
  };
  private readonly onChanged = (path: string): void => {
    const name = this.childName(path);
    if (name === undefined || !this.children.has(name) || !this.watchData) return;
    this.statsNow.watchEvents++;
    this.reread(name); // re-arms the one-shot data watch
  };
  private readonly onDeleted = (path: string): void => {
    if (path === this.path) {
      this.statsNow.watchEvents++;
      void this.relist(); // NONODE there re-creates the folder
      return;
    }
    const name = this.childName(path);
    if (name === undefined || !this.children.has(name)) return;
    this.statsNow.watchEvents++;
    // Faster than waiting for the child list; a re-created name comes back through it.
    this.forget(name);
  };
  private readonly onCreated = (path: string): void => {
    if (path !== this.path) return;
    this.statsNow.watchEvents++;
    void this.relist();
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
    void this.resync(); // the old session's watches are gone; diff against what we hold
  };
  private readonly onReconnected = (): void => {
    if (this.closed) return;
    void this.resync(); // watches survive a reconnect, but a lost read may not have been retried
  };
  private readonly onExpired = (): void => {
    this.detach(); // the handle is dead; keep what we hold until the new session re-reads
  };

  constructor(opts: WatchedFolderOptions) {
    this.session = opts.session;
    this.path = opts.path;
    this.sink = opts.sink;
    this.accept = opts.accept ?? (() => true);
    this.watchData = opts.watchData ?? true;
    const every = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    this.resyncIntervalMs = every > 0 ? Math.max(every, MIN_RESYNC_INTERVAL_MS) : 0;
    this.minReadIntervalMs = Math.max(0, opts.minReadIntervalMs ?? 0);
  }

  get stats(): WatchedFolderStats {
    return { ...this.statsNow };
  }

  /** True once the first complete picture is in. */
  get loaded(): boolean {
    return this.isLoaded;
  }

  /** Resolves once the first complete picture is loaded; rejects if the folder is closed first or cannot be read. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.closed) throw new ClosedError('WatchedFolder');
    this.session.on('session', this.onSession);
    this.session.on('reconnected', this.onReconnected);
    this.session.on('expired', this.onExpired);
    const zk = await sessionClient(this.session);
    if (this.closed) throw new ClosedError('WatchedFolder');
    if (this.statsNow.resyncs === 0) {
      // Not yet picked up by onSession (which fires when startClient() made the handle just now).
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

  /** Children listed now (accepted ones only). */
  names(): IterableIterator<string> {
    return this.children.values();
  }

  has(name: string): boolean {
    return this.children.has(name);
  }

  /**
   * Reads one child again; resolves once a read that started after the call is applied (true) or
   * failed (false). Coalesced with reads in flight.
   */
  refresh(name: string): Promise<boolean> {
    return joinRun(
      this.gets.get(name),
      (run) => this.gets.set(name, run),
      (run) => this.runGet(name, run).catch((e: unknown) => this.unexpected(e)),
    );
  }

  /** Lists the children again (reading new ones); resolves like refresh(). */
  relist(): Promise<boolean> {
    return this.list(false);
  }

  /**
   * A synced listing: sync() with the leader first, so the listing (and the reads it starts)
   * sees every write acknowledged before the call. Coalesced like refresh(). False when it failed
   * or there is no connection to ZooKeeper.
   */
  synced(): Promise<boolean> {
    return joinRun(
      this.syncRun,
      (run) => (this.syncRun = run),
      (run) => this.runSync(run).catch((e: unknown) => this.unexpected(e)),
    );
  }

  private async runSync(run: Run): Promise<boolean> {
    let ok = false;
    try {
      while (run.dirty && !this.closed) {
        run.dirty = false;
        const zk = this.zk;
        if (!zk || !this.session.isConnected) return false;
        try {
          this.statsNow.syncs++;
          await zk.sync(this.path);
        } catch (e) {
          this.failed('sync', this.path, e);
          return false;
        }
        ok = await this.relist();
      }
    } finally {
      if (this.syncRun === run) this.syncRun = undefined;
    }
    return ok;
  }

  /** A changed child: read it now, or once minReadIntervalMs has passed since its last read. */
  private reread(name: string): void {
    const wait = this.minReadIntervalMs === 0 ? 0 : (this.lastReadAt.get(name) ?? -Infinity) + this.minReadIntervalMs - performance.now();
    if (wait <= 0) return void this.refresh(name);
    if (this.heldBack.has(name)) return;
    const timer = setTimeout(() => {
      this.heldBack.delete(name);
      if (!this.closed && this.children.has(name)) void this.refresh(name);
    }, wait);
    this.heldBack.set(name, timer);
  }

  /** Removes every listener and timer; the session stays open (it is not ours). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.heldBack.values()) clearTimeout(t);
    this.heldBack.clear();
    this.session.off('session', this.onSession);
    this.session.off('reconnected', this.onReconnected);
    this.session.off('expired', this.onExpired);
    this.detach();
    clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    this.retry.cancel();
    this.ready.reject(new ClosedError('WatchedFolder'));
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
    if (path.length <= this.path.length + 1 || !path.startsWith(this.path) || path[this.path.length] !== '/') return undefined;
    const name = path.slice(this.path.length + 1);
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
    this.statsNow.resyncs++;
    this.needResync = false;
    return this.list(true);
  }

  /** Coalesced: while a list is in flight, callers only mark it dirty; one more list follows. */
  private list(all: boolean): Promise<boolean> {
    if (all) this.listAll = true;
    return joinRun(
      this.listRun,
      (run) => (this.listRun = run),
      (run) => this.runList(run).catch((e: unknown) => this.unexpected(e)),
    );
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
          this.statsNow.reads++;
          const names = await zk.children(this.path, true);
          if (this.closed) break;
          reads.push(...this.applyChildren(names.filter(this.accept), all));
          ok = true;
        } catch (e) {
          ok = false;
          if (all) this.listAll = true; // the full pass still has to happen
          if (isZk(e, C.ZNONODE) && !this.closed) {
            // Folder missing: create it (its writers will create children under it) and list again.
            try {
              await mkdirp(this.handle(), this.path);
              run.dirty = true;
            } catch (e2) {
              this.failed('mkdirp', this.path, e2);
            }
          } else {
            this.failed('get_children', this.path, e);
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

  /** Diffs a child list against what we hold; returns the reads it started. */
  private applyChildren(names: string[], all: boolean): Promise<boolean>[] {
    const next = new Set(names);
    for (const name of [...this.children]) if (!next.has(name)) this.forget(name);
    const reads: Promise<boolean>[] = [];
    for (const name of next) {
      const known = this.children.has(name);
      this.children.add(name);
      if (!known || all) reads.push(this.refresh(name));
    }
    return reads;
  }

  private async runGet(name: string, run: Run): Promise<boolean> {
    const path = `${this.path}/${name}`;
    let ok = false;
    try {
      while (run.dirty && !this.closed && this.children.has(name)) {
        run.dirty = false;
        try {
          const zk = this.handle();
          this.statsNow.reads++;
          if (this.minReadIntervalMs > 0) this.lastReadAt.set(name, performance.now());
          const node = await zk.get(path, this.watchData);
          this.statsNow.readBytes += node.data.length;
          this.applyData(name, node);
          ok = true;
        } catch (e) {
          if (isZk(e, C.ZNONODE)) {
            // Gone; the child watch reports it too, but do not wait for that.
            this.forget(name);
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

  private applyData(name: string, node: ZkNode): void {
    if (this.closed || !this.children.has(name)) return; // removed while the read was in flight
    const prev = this.seen.get(name);
    const { mzxid, version } = node.stat;
    // Never regress: an older (or the same) write than the one we hold changes nothing.
    if (prev && (mzxid < prev.mzxid || (mzxid === prev.mzxid && version <= prev.version))) return;
    this.seen.set(name, { mzxid, version });
    this.tell(() => this.sink.data(name, node));
  }

  private forget(name: string): void {
    this.children.delete(name);
    this.lastReadAt.delete(name);
    clearTimeout(this.heldBack.get(name));
    this.heldBack.delete(name);
    const had = this.seen.delete(name);
    if (had) this.tell(() => this.sink.removed(name));
  }

  /** A throwing sink must not break the read loops. */
  private tell(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(e instanceof Error ? e : new Error(String(e)), 'sink', this.path);
    }
  }

  private markLoaded(): void {
    this.retry.succeeded();
    if (this.isLoaded || this.closed) return;
    this.isLoaded = true;
    this.ready.resolve();
    this.tell(() => this.sink.loaded?.());
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
    if (!this.isLoaded && op !== 'get' && op !== 'sync') this.ready.reject(err); // the folder itself cannot be read: start() must not hang
    this.report(err, op, path);
    // Not a connection problem, but maybe passing (ACL changed, a node in flux): read again later.
    this.needResync = true;
    this.scheduleRetry();
  }

  private report(err: Error, op: string, path: string): void {
    try {
      this.sink.error(err, { op, path });
    } catch {
      // A throwing reporter must not break the read loops (or reject a floating promise).
    }
  }

  /** A bug, not a ZooKeeper failure: report it and make sure the next timer pass re-reads everything. */
  private unexpected(e: unknown): boolean {
    this.report(e instanceof Error ? e : new Error(String(e)), 'internal', this.path);
    this.needResync = true;
    this.scheduleRetry();
    return false;
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    this.retry.schedule(() => {
      if (this.closed || !this.needResync) return;
      if (this.session.isConnected && this.zk) void this.resync();
      else this.scheduleRetry(); // 'reconnected' / 'session' usually gets there first
    });
  }
}
