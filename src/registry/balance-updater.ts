import { EventEmitter } from 'node:events';
import { reportError } from '../log/report-error.js';
import type { Logger } from '../log/logger.js';
import { encodeServerData, type ServerData } from '../server-data.js';
import type { KeyedMutex } from '../zk/keyed-mutex.js';
import type { ZkSession } from '../zk/session.js';
import { BalanceCounter } from './balance-counter.js';
import { minIntervalDelay, type DelayPolicy, type WriteOutcome } from './node-writer.js';
import type { PublishState } from './publish-policy.js';
import { Registration, type RegistrationState } from './registration.js';

export { DEFAULT_MIN_WRITE_INTERVAL_MS } from './node-writer.js';

export interface BalanceUpdaterOptions {
  session: ZkSession;
  /** Parent of the server nodes. */
  root: string;
  /** Node name under the root. */
  name: string;
  /** Everything but the balance, read at each write (draining may change). */
  describe: () => Omit<ServerData, 'balance' | 'updatedAt'>;
  /** See RegistrationOptions.digest. */
  digest?: string;
  /** See RegistrationOptions.replaceForeign. */
  replaceForeign?: (node: { owner: string; data: Buffer }) => boolean;
  /** See RegistrationOptions.conflictTimeoutMs. @default 2 × the negotiated session timeout */
  conflictTimeoutMs?: number;
  /** @default DEFAULT_VERIFY_INTERVAL_MS (10000) */
  verifyIntervalMs?: number;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** @default minIntervalDelay */
  delayPolicy?: DelayPolicy;
  /**
   * Adaptive publishing: the wait before the next write given what ZooKeeper holds and the live
   * balance (see publish-policy.ts); the minimum gap still applies. Takes precedence over
   * delayPolicy. @default undefined (every change is written after the minimum gap)
   */
  publishPolicy?: (state: PublishState & { metadataChanged: boolean }) => number;
  /** @default DEFAULT_RETRY_DELAY_MS (250) */
  retryDelayMs?: number;
  /** Outcome and duration of every balance write (e.g. for a histogram). */
  observeWrite?: (outcome: WriteOutcome<ServerData>, seconds: number) => void;
  locks?: KeyedMutex;
  /** Where failures go when nobody listens for 'error' (see reportError). @default defaultLogger() */
  logger?: Logger;
}

export interface BalanceWriteStats {
  /** Balance changes (increase/decrease/set calls) seen. */
  events: number;
  /** setData calls that succeeded. */
  writes: number;
  /** BADVERSION answers that made us re-read the version. */
  badVersion: number;
  /** Writes that did not land and were retried later (or made the node be recreated). */
  failures: number;
}

/**
 * A server's balance in ZooKeeper: the local BalanceCounter is the truth; every change is
 * published through the Registration (which owns the node) and its NodeWriter (coalesced,
 * versioned writes). Data flows one way: counter → registration → writer → ZooKeeper.
 */
export class BalanceUpdater extends EventEmitter<{ written: [balance: number]; state: [to: RegistrationState, from: RegistrationState]; error: [Error] }> {
  readonly counter = new BalanceCounter();
  readonly registration: Registration<ServerData>;
  /** The balance ZooKeeper holds as far as we know (the publish policy compares against it). */
  private published = 0;
  private metadataChanged = false;

  constructor(options: BalanceUpdaterOptions) {
    super();
    const { describe, publishPolicy, ...rest } = options;
    const delayPolicy: DelayPolicy | undefined = publishPolicy
      ? (ctx) =>
          Math.max(
            minIntervalDelay(ctx),
            publishPolicy({ published: this.published, publishedAt: ctx.lastWriteAt, current: this.counter.value, now: ctx.now, metadataChanged: this.metadataChanged }),
          )
      : options.delayPolicy;
    this.registration = new Registration<ServerData>({
      ...rest,
      delayPolicy,
      data: () => ({ ...describe(), balance: this.counter.value, updatedAt: Date.now() }),
      encode: encodeServerData,
    });
    this.counter.onChange(() => this.registration.publish());
    this.registration.on('written', (d) => {
      this.published = d.balance;
      this.metadataChanged = false;
      this.emit('written', d.balance);
    });
    this.registration.on('state', (to, from) => this.emit('state', to, from));
    this.registration.on('error', (e) => reportError(this, e, options.logger, { component: 'BalanceUpdater', path: this.registration.path }));
  }

  get balance(): number {
    return this.counter.value;
  }

  get path(): string {
    return this.registration.path;
  }

  get stats(): BalanceWriteStats {
    const w = this.registration.writer.stats;
    return { events: this.counter.events, writes: w.writes, badVersion: w.badVersion, failures: w.failures };
  }

  increase(step = 1): void {
    this.counter.increase(step);
  }

  decrease(step = 1): void {
    this.counter.decrease(step);
  }

  /** Sets the absolute balance (heartbeat registrations). */
  set(balance: number): void {
    this.counter.set(balance);
  }

  /** Publishes a metadata change (e.g. draining) even though the balance did not move. */
  touch(): void {
    this.metadataChanged = true;
    this.registration.publish();
  }

  /** Resolves once ZooKeeper holds what the counter holds now (or the node is detached). */
  flushed(): Promise<void> {
    return this.registration.flushed();
  }

  register(): Promise<string> {
    return this.registration.register();
  }

  unregister(): Promise<void> {
    return this.registration.unregister();
  }
}
