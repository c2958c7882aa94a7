import type ZooKeeper from 'zookeeper';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import type { ZkSession } from '../zk/session.js';

/** Gap kept between two writes of one node; changes inside it are folded into the next write. @default 20 */
export const DEFAULT_NODE_WRITE_INTERVAL_MS = 20;
/** A write that carried at least this many changes means a storm: the next gap is stretched. */
export const STORM_BATCH = 4;
/** Factor on the gap during a storm (20 ms → 50 ms): fewer, bigger writes while logins pour in. */
export const STORM_GAP_FACTOR = 2.5;
/** Wait before retrying after a failed write. @default 250 */
export const DEFAULT_NODE_RETRY_MS = 250;

export interface EphemeralNodeOptions {
  session: ZkSession;
  path: string;
  /** Called at write time: the node's content now (so many changes cost one encoding). */
  produce: () => Buffer;
  /** @default DEFAULT_NODE_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** ACL given to the node after it is created (digest protection). */
  acl?: { perms: number; scheme: string; auth: string }[];
}

/**
 * One ephemeral node kept equal to `produce()`: created on first touch, re-created after a new
 * session, written at the leading edge when idle (a lone change is visible at once), at most
 * once per interval while changes trickle in, and less often while they pour in (a storm). One write in flight; what changes meanwhile goes in the next.
 */
export class EphemeralNode {
  private generation = 0;
  private written = 0;
  private created = false;
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = -Infinity;
  private lastBatch = 0;
  private waiters: { generation: number; resolve: () => void }[] = [];
  private readonly interval: number;
  readonly stats = { writes: 0, failures: 0 };
  private readonly onSession = () => {
    this.created = false;
    this.touch();
  };

  constructor(private readonly options: EphemeralNodeOptions) {
    this.interval = Math.max(0, options.minWriteIntervalMs ?? DEFAULT_NODE_WRITE_INTERVAL_MS);
    options.session.on('session', this.onSession);
  }

  get path(): string {
    return this.options.path;
  }

  touch(): void {
    if (this.closed) return;
    this.generation++;
    this.schedule();
  }

  /** Resolves once ZooKeeper holds what produce() returned at the time of the call (or the node is closed). */
  flushed(): Promise<void> {
    if (this.closed || this.written >= this.generation) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation: this.generation, resolve }));
  }

  private schedule(delayMs?: number): void {
    if (this.running || this.timer || this.closed) return;
    const gap = this.lastBatch >= STORM_BATCH ? this.interval * STORM_GAP_FACTOR : this.interval;
    const wait = delayMs ?? Math.max(0, this.lastWriteAt + gap - performance.now());
    if (wait === 0) {
      void this.run();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    if (this.closed || this.written >= this.generation) return;
    this.running = true;
    // The gap is measured from write start: a slow write of a big shard must not delay the next login further.
    this.lastWriteAt = performance.now();
    const generation = this.generation;
    let retryIn: number | undefined;
    try {
      await this.write(this.options.session.zk, this.options.produce());
      this.stats.writes++;
      this.lastBatch = generation - this.written;
      this.written = generation;
      this.waiters = this.waiters.filter((w) => (w.generation <= generation ? (w.resolve(), false) : true));
    } catch (e) {
      this.stats.failures++;
      if (!isConnectionProblem(e)) this.created = false; // unknown state: check the node again next time
      retryIn = DEFAULT_NODE_RETRY_MS;
    } finally {
      this.running = false;
    }
    if (this.written < this.generation) this.schedule(retryIn);
  }

  private async write(zk: ZooKeeper, data: Buffer): Promise<void> {
    const path = this.options.path;
    if (this.created) {
      try {
        await zk.set(path, data, -1);
        return;
      } catch (e) {
        if (!isZk(e, C.ZNONODE)) throw e;
        this.created = false;
      }
    }
    try {
      await zk.create(path, data, C.ZOO_EPHEMERAL);
    } catch (e) {
      if (!isZk(e, C.ZNODEEXISTS)) throw e;
      // Left by an earlier session of this server, or by a crashed process that had our name:
      // the server node under this name is ours now, so its routes are too.
      const stat = (await zk.exists(path, false)) as { ephemeralOwner: unknown };
      if (String(stat.ephemeralOwner) !== String(zk.client_id)) {
        await zk.delete_(path, -1).catch((e2: unknown) => {
          if (!isZk(e2, C.ZNONODE)) throw e2;
        });
        await zk.create(path, data, C.ZOO_EPHEMERAL);
      } else {
        await zk.set(path, data, -1);
      }
    }
    if (this.options.acl) await zk.set_acl(path, -1, this.options.acl);
    this.created = true;
  }

  /** Stops writing and deletes the node (best effort: it dies with the session anyway). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.options.session.off('session', this.onSession);
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    for (let i = 0; i < 100 && this.running; i++) await new Promise((r) => setTimeout(r, 10));
    if (!this.options.session.isConnected) return;
    try {
      await this.options.session.zk.delete_(this.options.path, -1);
    } catch {
      // gone already, or ZooKeeper away: the session's end removes it
    }
  }
}
