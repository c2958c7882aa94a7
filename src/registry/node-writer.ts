import { performance } from 'node:perf_hooks';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import { pathLocks, type KeyedMutex } from '../zk/keyed-mutex.js';
import type { ZkClient } from '../zk/zk-client.js';

/** Minimum gap between two writes of one node; requests inside it are batched into the next write. */
export const DEFAULT_MIN_WRITE_INTERVAL_MS = 20;
/** BADVERSION answers inside one write before it gives up and reports `failed`. */
export const DEFAULT_MAX_CAS_TRIES = 20;

/** What one write of a NodeWriter came to; the owner decides what to do next. */
export type WriteOutcome<T> =
  /** ZooKeeper holds `value` at `version`. */
  | { kind: 'written'; value: T; version: number }
  /** The node does not exist (session expired, or deleted): the writer detached itself. */
  | { kind: 'node-gone' }
  /** Connection loss, timeout, or no handle: the write may or may not have landed; retry later. */
  | { kind: 'connection-lost'; error: Error }
  /** Anything else (including BADVERSION races lost DEFAULT_MAX_CAS_TRIES times). */
  | { kind: 'failed'; error: Error }
  /** Not attached to a node (never was, or detached meanwhile): nothing was written. */
  | { kind: 'detached' };

/** What a delay policy sees when it decides how long to wait before the next write. */
export interface WriteDelayContext {
  /** Date.now() at the decision. */
  readonly now: number;
  /** When the last write (or the create) landed; 0 before any. */
  readonly lastWriteAt: number;
  /** The writer's configured minimum gap. */
  readonly minWriteIntervalMs: number;
  /** Requests not yet written. */
  readonly pending: number;
  /** When the oldest unwritten request arrived. */
  readonly pendingSince: number;
}

/** Milliseconds to wait before the next write. */
export type DelayPolicy = (ctx: WriteDelayContext) => number;

/** The default policy: at most one write per minWriteIntervalMs, at once when the last one is older. */
export const minIntervalDelay: DelayPolicy = (ctx) => Math.max(0, ctx.lastWriteAt + ctx.minWriteIntervalMs - ctx.now);

export interface NodeWriterOptions<T> {
  /** The node this writer updates (it never creates or deletes it). */
  path: string;
  /** The client to write with; throws (ClosedError) when there is none, e.g. while the session is replaced. */
  client: () => ZkClient;
  /** The truth to publish, read at each write. */
  supply: () => T;
  encode: (value: T) => Buffer;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** @default minIntervalDelay (one write per minWriteIntervalMs) */
  delayPolicy?: DelayPolicy;
  /** The per-path lock, shared by everything in the process that writes the node. @default pathLocks */
  locks?: KeyedMutex;
  /** @default DEFAULT_MAX_CAS_TRIES (20) */
  maxCasTries?: number;
  /** Called after every write with its outcome and duration (lock wait included), e.g. for metrics. */
  observe?: (outcome: WriteOutcome<T>, seconds: number) => void;
}

export interface NodeWriterStats {
  /** setData calls that succeeded. */
  writes: number;
  /** BADVERSION answers that made us re-read the version. */
  badVersion: number;
  /** Writes that ended in anything but `written`. */
  failures: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const DETACHED = Object.freeze({ kind: 'detached' }) as WriteOutcome<never>;

/**
 * Brings one existing node up to what `supply` returns: coalesced, versioned setData under the
 * per-path mutex. Requests that arrive during a write or inside the delay are folded into the
 * next write, which always carries the whole current value (so a write that was applied but
 * whose answer was lost cannot double-count when it is repeated). A foreign write (BADVERSION)
 * is answered by re-reading the version and writing the truth again.
 *
 * The writer never retries on its own after a failure and emits nothing: request() and flush()
 * return the outcome of the write that carries the request, and the owner acts on it.
 */
export class NodeWriter<T> {
  readonly path: string;
  readonly stats: NodeWriterStats = { writes: 0, badVersion: 0, failures: 0 };
  private readonly minWriteIntervalMs: number;
  private readonly delayPolicy: DelayPolicy;
  private readonly locks: KeyedMutex;
  private readonly maxCasTries: number;
  private isAttached = false;
  /** Bumped by attach/detach, so a write in flight notices that the node it writes changed. */
  private epoch = 0;
  private version = -1;
  private requested = 0;
  private written = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  private lastWriteAt = 0;
  private pendingSince = 0;
  private next: Deferred<WriteOutcome<T>> | undefined;
  private closed = false;
  /** flushed() waiters (also released by a detach) and acknowledged() waiters (released only by a write or close). */
  private waiters: { generation: number; orDetached: boolean; resolve: () => void }[] = [];

  constructor(private readonly options: NodeWriterOptions<T>) {
    this.path = options.path;
    this.minWriteIntervalMs = Math.max(0, options.minWriteIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS);
    this.delayPolicy = options.delayPolicy ?? minIntervalDelay;
    this.locks = options.locks ?? pathLocks;
    this.maxCasTries = Math.max(1, options.maxCasTries ?? DEFAULT_MAX_CAS_TRIES);
  }

  get attached(): boolean {
    return this.isAttached;
  }

  /** The node version our last write (or the attach) produced; -1 when detached. */
  get nodeVersion(): number {
    return this.version;
  }

  /** The generation of the latest request: what acknowledged() waits for. */
  get generation(): number {
    return this.requested;
  }

  /** True when ZooKeeper holds everything requested so far (as far as this writer knows). */
  get upToDate(): boolean {
    return this.written >= this.requested;
  }

  /** The value to publish now, encoded, and the request generation it covers (for a create by the owner). */
  snapshot(): { value: T; data: Buffer; generation: number } {
    const value = this.options.supply();
    return { value, data: this.options.encode(value), generation: this.requested };
  }

  /** The data changed: write it. Resolves with the outcome of the write that carries this change. */
  request(): Promise<WriteOutcome<T>> {
    if (this.written >= this.requested) this.pendingSince = Date.now();
    this.requested++;
    return this.flush() ?? Promise.resolve(DETACHED);
  }

  /** Writes what is not written yet (e.g. after a failed write); undefined when up to date or detached. */
  flush(): Promise<WriteOutcome<T>> | undefined {
    if (!this.isAttached || this.written >= this.requested) return undefined;
    this.next ??= deferred();
    this.schedule();
    return this.next.promise;
  }

  /** The owner created (or adopted) the node: it is at `version` and holds the data of `generation`. */
  attach(version: number, generation: number): void {
    this.epoch++;
    this.isAttached = true;
    this.version = version;
    this.written = Math.max(this.written, generation);
    this.lastWriteAt = Date.now();
    this.settleWaiters();
  }

  /** The node is gone or no longer ours: stop writing until attached again. */
  detach(): void {
    this.epoch++;
    this.isAttached = false;
    this.version = -1;
    clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.next;
    this.next = undefined;
    next?.resolve(DETACHED);
    this.settleWaiters();
  }

  /** Resolves once ZooKeeper holds what was requested so far (or the writer is detached). */
  flushed(): Promise<void> {
    if (this.written >= this.requested || !this.isAttached || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation: this.requested, orDetached: true, resolve }));
  }

  /**
   * Resolves once ZooKeeper acknowledged a write (or the owner's create) carrying `generation`, or
   * the writer is closed. Unlike flushed() it keeps waiting while the node is detached: its owner
   * creates the node again, with the data of that moment.
   */
  acknowledged(generation: number = this.requested): Promise<void> {
    if (this.written >= generation || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation, orDetached: false, resolve }));
  }

  private schedule(): void {
    if (!this.isAttached || this.running || this.written >= this.requested) return;
    const now = Date.now();
    const wait = Math.max(0, this.delayPolicy({ now, lastWriteAt: this.lastWriteAt, minWriteIntervalMs: this.minWriteIntervalMs, pending: this.requested - this.written, pendingSince: this.pendingSince }));
    // A later request may make the change more urgent (adaptive policies): bring a pending write forward, never push it back.
    if (this.timer) {
      if (now + wait >= this.timerDueAt) return;
      clearTimeout(this.timer);
    }
    this.timerDueAt = now + wait;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    if (!this.isAttached || this.running || this.written >= this.requested) return;
    this.running = true;
    const done = this.next;
    this.next = undefined;
    const started = performance.now();
    let outcome: WriteOutcome<T>;
    try {
      outcome = await this.locks.runExclusive(this.path, () => this.writeOnce());
    } catch (e) {
      outcome = classify(e);
    } finally {
      this.running = false;
    }
    if (outcome.kind !== 'written') this.stats.failures++;
    try {
      this.options.observe?.(outcome, (performance.now() - started) / 1000);
    } catch {
      // an observer must not break the write loop
    }
    if (outcome.kind === 'node-gone') this.detach();
    this.settleWaiters();
    done?.resolve(outcome);
    // Requests that arrived during the write; after a failure the owner decides when to try again.
    if (outcome.kind === 'written') this.schedule();
  }

  private async writeOnce(): Promise<WriteOutcome<T>> {
    const epoch = this.epoch;
    let lost: Error | undefined;
    for (let tries = 0; tries < this.maxCasTries; tries++) {
      if (this.epoch !== epoch || !this.isAttached) return DETACHED;
      const { value, data, generation } = this.snapshot();
      const zk = this.options.client();
      try {
        const stat = await zk.set(this.path, data, this.version);
        if (this.epoch !== epoch) return DETACHED;
        this.version = stat.version;
        this.written = Math.max(this.written, generation);
        this.lastWriteAt = Date.now();
        this.stats.writes++;
        return { kind: 'written', value, version: stat.version };
      } catch (e) {
        if (!isZk(e, C.ZBADVERSION)) throw e;
        // Someone else wrote (or our last write landed but its answer was lost): learn the version, write the truth.
        this.stats.badVersion++;
        lost = e as Error;
        const stat = await zk.exists(this.path);
        if (!stat) return { kind: 'node-gone' };
        if (this.epoch !== epoch) return DETACHED;
        this.version = stat.version;
      }
    }
    return { kind: 'failed', error: lost! };
  }

  private settleWaiters(): void {
    const done = this.waiters.filter((w) => w.generation <= this.written || this.closed || (w.orDetached && !this.isAttached));
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  /** Detaches for good (the owner ends); every waiter is released. */
  close(): void {
    this.closed = true;
    this.detach();
  }
}

function classify<T>(e: unknown): WriteOutcome<T> {
  if (isZk(e, C.ZNONODE)) return { kind: 'node-gone' };
  const error = e instanceof Error ? e : new Error(String(e));
  return isConnectionProblem(e) ? { kind: 'connection-lost', error } : { kind: 'failed', error };
}
