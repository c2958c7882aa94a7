import { EventEmitter } from 'node:events';
import type ZooKeeper from 'zookeeper';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { encodeServerData, type ServerData } from '../server-data.js';
import { C, isZk, zkCode } from '../zk/codes.js';
import { pathLocks, type KeyedMutex } from '../zk/keyed-mutex.js';
import type { PublishState } from './publish-policy.js';

/** Minimum gap between two writes of one node; events inside it are batched into the next write. */
export const DEFAULT_MIN_WRITE_INTERVAL_MS = 20;
/** Wait before retrying after connection loss or an unexpected error. */
export const DEFAULT_RETRY_DELAY_MS = 250;
/** BADVERSION retries inside one write before backing off. */
export const DEFAULT_MAX_CAS_TRIES = 20;

export interface BalanceUpdaterOptions {
  /** Returns the handle to write with; throws when there is none (session being replaced). */
  zk: () => ZooKeeper;
  /** Everything but the balance, read at each write (draining may change). */
  describe: () => Omit<ServerData, 'balance'>;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** @default DEFAULT_RETRY_DELAY_MS (250) */
  retryDelayMs?: number;
  /** The per-path lock; shared by every updater in the process. @default pathLocks */
  locks?: KeyedMutex;
  /**
   * Adaptive publishing: the wait before the next write, given what ZooKeeper holds and the live
   * balance (see publish-policy.ts); the minimum gap still applies. @default undefined (off: every
   * change is written after the minimum gap)
   */
  publishPolicy?: (state: PublishState & { metadataChanged: boolean }) => number;
}

export interface BalanceWriteStats {
  /** Connection events (increase/decrease calls) seen. */
  events: number;
  /** setData calls that succeeded. */
  writes: number;
  /** BADVERSION answers that made us re-read the version. */
  badVersion: number;
  /** Writes that failed for another reason and were retried later. */
  failures: number;
}

/**
 * The balance-update provider: increase/decrease a server's balance by a step.
 *
 * The local counter is the truth and changes synchronously; ZooKeeper is brought up to it by
 * versioned setData under the per-path mutex. Writes carry the absolute count, so a write that
 * failed with connection loss yet was applied cannot double-count when it is retried, and events
 * arriving during a write are folded into the next one.
 */
export class BalanceUpdater extends EventEmitter<{ written: [balance: number]; error: [Error]; lost: [path: string] }> {
  private value = 0;
  private generation = 0;
  private writtenGeneration = 0;
  private version = -1;
  private path: string | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  private lastWriteAt = 0;
  /** What ZooKeeper holds, for the publish policy. */
  private writtenValue = 0;
  private metadataDirty = false;
  private described: { generation: number; balance: number } | undefined;
  private waiters: { generation: number; resolve: () => void }[] = [];
  private readonly minWriteIntervalMs: number;
  private readonly retryDelayMs: number;
  private readonly locks: KeyedMutex;
  readonly stats: BalanceWriteStats = { events: 0, writes: 0, badVersion: 0, failures: 0 };

  constructor(private readonly options: BalanceUpdaterOptions) {
    super();
    this.minWriteIntervalMs = Math.max(0, options.minWriteIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS);
    this.retryDelayMs = Math.max(10, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    this.locks = options.locks ?? pathLocks;
  }

  get balance(): number {
    return this.value;
  }

  /** The balance ZooKeeper holds now, as far as this updater knows. */
  get writtenBalance(): number | undefined {
    return this.writtenGeneration === this.generation ? this.value : undefined;
  }

  increase(step = 1): void {
    this.change(step);
  }

  decrease(step = 1): void {
    this.change(-step);
  }

  /** Publishes a metadata change (e.g. draining) even though the balance did not move. */
  touch(): void {
    this.generation++;
    this.metadataDirty = true;
    this.schedule();
  }

  private change(delta: number): void {
    if (!Number.isInteger(delta) || delta === 0) throw InvalidArgumentError.format('step', `must be a non-zero integer, got ${delta}`);
    if (this.value + delta < 0) throw InvalidArgumentError.format('decrease', `would make the balance negative (${this.value}${delta})`);
    this.value += delta;
    this.stats.events++;
    this.generation++;
    this.schedule();
  }

  /** The data to publish now, and which generation it reflects. */
  current(): { data: ServerData; generation: number } {
    this.described = { generation: this.generation, balance: this.value };
    return { data: { ...this.options.describe(), balance: this.value, updatedAt: Date.now() }, generation: this.generation };
  }

  /** Called by the registration once it created the node holding `generation` at `version`. */
  attach(path: string, version: number, generation: number): void {
    this.path = path;
    this.version = version;
    this.writtenGeneration = Math.max(this.writtenGeneration, generation);
    this.lastWriteAt = Date.now();
    if (this.described?.generation === generation) this.writtenValue = this.described.balance;
    this.metadataDirty = false;
    this.settleWaiters();
    this.schedule();
  }

  /** Called when the node is gone (unregistered, or the session expired): stop writing until attached again. */
  detach(): void {
    this.path = undefined;
    this.version = -1;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get attachedPath(): string | undefined {
    return this.path;
  }

  /** The node version our last write produced (-1 when detached). */
  get attachedVersion(): number {
    return this.version;
  }

  /** Resolves once ZooKeeper holds what the counter holds now (or the node is detached). */
  flushed(): Promise<void> {
    if (this.writtenGeneration >= this.generation || !this.path) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation: this.generation, resolve }));
  }

  /** Kicks the write loop now, e.g. after a reconnect. */
  schedule(delayMs?: number): void {
    if (!this.path || this.running || this.writtenGeneration >= this.generation) return;
    const now = Date.now();
    let wait = delayMs ?? Math.max(0, this.lastWriteAt + this.minWriteIntervalMs - now);
    const policy = this.options.publishPolicy;
    if (delayMs === undefined && policy) {
      wait = Math.max(wait, policy({ published: this.writtenValue, publishedAt: this.lastWriteAt, current: this.value, now, metadataChanged: this.metadataDirty }));
      // A later event may make the change urgent: bring a pending write forward, never push it back.
      if (this.timer && now + wait >= this.timerDueAt) return;
    } else if (this.timer && delayMs === undefined) return;
    clearTimeout(this.timer);
    this.timerDueAt = now + wait;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    const path = this.path;
    if (!path || this.running) return;
    this.running = true;
    let retryIn: number | undefined;
    try {
      await this.locks.runExclusive(path, () => this.writeOnce(path));
    } catch (e) {
      this.stats.failures++;
      if (isZk(e, C.ZNONODE)) {
        // The node vanished (expired session, or deleted by someone): the registration listens
        // for 'lost' and recreates it with the live count.
        this.detach();
        this.emit('lost', path);
      } else {
        retryIn = this.retryDelayMs;
        if (!(e instanceof ClosedError) && zkCode(e) === undefined && this.listenerCount('error') > 0) this.emit('error', e as Error);
      }
    } finally {
      this.running = false;
    }
    this.settleWaiters();
    this.schedule(retryIn);
  }

  private async writeOnce(path: string): Promise<void> {
    for (let tries = 0; tries < DEFAULT_MAX_CAS_TRIES; tries++) {
      if (this.path !== path) return;
      const { data, generation } = this.current();
      const zk = this.options.zk();
      try {
        const stat = await zk.set(path, encodeServerData(data), this.version);
        this.version = stat.version as number;
        this.writtenGeneration = Math.max(this.writtenGeneration, generation);
        this.lastWriteAt = Date.now();
        this.writtenValue = data.balance;
        if (generation === this.generation) this.metadataDirty = false;
        this.stats.writes++;
        this.emit('written', data.balance);
        return;
      } catch (e) {
        if (!isZk(e, C.ZBADVERSION)) throw e;
        // Someone else wrote (or our last write landed but its answer was lost): learn the version, write the truth.
        this.stats.badVersion++;
        const [stat] = await zk.get(path, false);
        this.version = stat.version as number;
      }
    }
    throw new Error(`${C.ZBADVERSION} bad version: ${DEFAULT_MAX_CAS_TRIES} tries lost the race`);
  }

  private settleWaiters(): void {
    const done = this.waiters.filter((w) => w.generation <= this.writtenGeneration || !this.path);
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  close(): void {
    this.detach();
    this.settleWaiters();
  }
}
