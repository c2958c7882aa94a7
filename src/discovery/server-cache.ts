import { EventEmitter } from 'node:events';
import { ClosedError } from '../errors.js';
import { reportError } from '../log/report-error.js';
import type { Logger } from '../log/logger.js';
import type { ZkNode } from '../zk/zk-client.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import type { SupervisedSession } from '../zk/session.js';
import { DEFAULT_RESYNC_INTERVAL_MS, WatchedFolder } from '../zk/watched-folder.js';
import { toServerInfo, warnMalformedOnce, type MalformedHandler } from './read-servers.js';
import { DepartedMemory, EMPTY_SNAPSHOT, makeSnapshot, type ServerInfo, type ServerSource, type Snapshot } from './snapshot.js';

export { DEFAULT_RESYNC_INTERVAL_MS };

/**
 * minReadIntervalMs for a cache that only picks for its own process (an application's clients):
 * its own picks count as pending until the servers publish them, so it does not need every
 * balance change of the cluster the moment it happens.
 */
export const CLIENT_MIN_READ_INTERVAL_MS = 250;

export interface ServerCacheOptions {
  /** Supervised ZooKeeper session; the cache uses it but never closes it. */
  session: SupervisedSession;
  /** @default DEFAULT_ROOT ('/fulcrum/servers'); created (persistent) when missing. */
  root?: string;
  /** @default warns once per node name and error message via process.emitWarning */
  onMalformed?: MalformedHandler;
  /** Period of the full re-read; 0 disables it, other values are clamped to ≥ 1000. @default 30000 */
  resyncIntervalMs?: number;
  /**
   * A server whose node changes again within this long after the cache last read it is re-read
   * once this has passed (one read for every change meanwhile); the first change after a quiet
   * spell is read at once, and servers appearing and disappearing are never held back. 0 reads
   * every change at once (an allocation service picking for many clients); a cache picking only
   * for its own process can use CLIENT_MIN_READ_INTERVAL_MS. @default 0
   */
  minReadIntervalMs?: number;
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
  /** Undefined while the data is malformed: the node is watched but not served. */
  info: ServerInfo | undefined;
}

function sameInfo(a: ServerInfo, b: ServerInfo): boolean {
  const ka = Object.keys(a) as (keyof ServerInfo)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/**
 * The watch-driven discovery: the live servers and their balances, kept in memory.
 *
 * The mechanics (boolean watches, coalesced reads that never regress, resync, backoff) are the
 * WatchedFolder's; this class decodes ServerData, announces changes and publishes immutable
 * snapshots. The last picture survives disconnects; reconnects and new sessions trigger a full
 * re-read that is diffed against it.
 */
export class ServerCache extends EventEmitter<ServerCacheEvents> implements ServerSource {
  readonly root: string;
  private readonly folder: WatchedFolder;
  private readonly onMalformed: MalformedHandler;
  private readonly logger: Logger | undefined;
  private readonly nodes = new Map<string, NodeEntry>();
  private malformed = 0;
  private errors = 0;

  private snap: Snapshot = EMPTY_SNAPSHOT;
  private readonly departed = new DepartedMemory();
  private changed = false;
  private flushScheduled = false;
  private lastEmitted: Snapshot = EMPTY_SNAPSHOT;
  private closed = false;
  private starting: Promise<void> | undefined;

  constructor(opts: ServerCacheOptions) {
    super();
    this.root = validateRoot(opts.root ?? DEFAULT_ROOT);
    this.onMalformed = opts.onMalformed ?? warnMalformedOnce(this.root);
    this.logger = opts.logger;
    this.folder = new WatchedFolder({
      session: opts.session,
      path: this.root,
      resyncIntervalMs: opts.resyncIntervalMs,
      minReadIntervalMs: opts.minReadIntervalMs,
      sink: {
        data: (name, node) => this.applyData(name, node),
        removed: (name) => this.drop(name),
        error: (err) => this.report(err),
        loaded: () => this.markLoaded(),
      },
    });
  }

  get stats(): ServerCacheStats {
    const { watchEvents, reads, resyncs } = this.folder.stats;
    return { watchEvents, reads, resyncs, malformed: this.malformed, errors: this.errors };
  }

  /** Resolves once the first full picture is loaded; rejects if the cache is closed first or the root cannot be read. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.closed) throw new ClosedError('ServerCache');
    try {
      await this.folder.start();
    } catch (e) {
      throw this.closed ? new ClosedError('ServerCache') : e;
    }
  }

  async snapshot(): Promise<Snapshot> {
    await this.start();
    return this.current();
  }

  /** The newest picture; the same object until something changes. EMPTY_SNAPSHOT before the first load. */
  current(): Snapshot {
    if (this.changed && this.folder.loaded) {
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
    this.folder.close();
  }

  private applyData(name: string, node: ZkNode): void {
    if (this.closed) return;
    const decoded = toServerInfo(name, node.data, (n, err) => {
      this.malformed++;
      try {
        this.onMalformed(n, err);
      } catch (e) {
        this.report(e instanceof Error ? e : new Error(String(e)));
      }
    });
    // Kept even when malformed: the data watch stays armed and a later valid write shows up.
    const info = decoded && Object.freeze(decoded);
    const before = this.nodes.get(name)?.info;
    this.nodes.set(name, { info });
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
    if (this.flushScheduled || !this.folder.loaded) return;
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
    if (this.closed) return;
    this.changed = true; // the first picture is version 1 even when the root is empty
    this.scheduleFlush();
  }

  private liveServers(): ServerInfo[] {
    const out: ServerInfo[] = [];
    for (const e of this.nodes.values()) if (e.info) out.push(e.info);
    return out;
  }

  private report(err: Error): void {
    this.errors++;
    try {
      reportError(this, err, this.logger, { component: 'ServerCache', root: this.root });
    } catch {
      // A throwing 'error' listener must not break the read loops (or reject a floating promise).
    }
  }
}
