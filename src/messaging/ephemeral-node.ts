import { DEFAULT_MIN_WRITE_INTERVAL_MS, NodeWriter, type DelayPolicy, type WriteOutcome } from '../registry/node-writer.js';
import { C, isZk } from '../zk/codes.js';
import type { ZkSession } from '../zk/session.js';
import type { ZkAcl } from '../zk/zk-client.js';

/** Wait before retrying after a failed write or create. @default 250 */
export const DEFAULT_NODE_RETRY_MS = 250;
/** This many changes waiting when a write is due means a storm: the next gap is stretched. */
export const STORM_BATCH = 4;
/** Factor on the gap during a storm (20 ms → 50 ms): fewer, bigger writes while logins pour in. */
export const STORM_GAP_FACTOR = 2.5;

/**
 * Half the interval after the last write landed while changes trickle in (a lone login is written
 * at once, and a slow write of a big shard does not delay the next one further), 2.5 × the
 * interval while they pour in.
 */
export const routeWriteDelay: DelayPolicy = (ctx) => {
  const gap = ctx.pending >= STORM_BATCH ? ctx.minWriteIntervalMs * STORM_GAP_FACTOR : ctx.minWriteIntervalMs / 2;
  return Math.max(0, ctx.lastWriteAt + gap - ctx.now);
};

export interface EphemeralNodeOptions {
  session: ZkSession;
  path: string;
  /** Called at write time: the node's content now (so many changes cost one encoding). */
  produce: () => Buffer;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** ACL given to the node after it is created (digest protection). */
  acl?: ZkAcl[];
}

/** What one write carries: the content, and how many touches it covers. */
interface Content {
  data: Buffer;
  touches: number;
}

const dataOf = (c: Content) => c.data;

/**
 * One ephemeral node kept equal to `produce()`: this owner creates it on first touch and again
 * after a new session or when it is gone; the foundation's NodeWriter does the coalesced,
 * versioned writes in between and tells us their outcome.
 */
export class EphemeralNode {
  private readonly writer: NodeWriter<Content>;
  private touched = false;
  /** touch() calls so far, and how many of them a write ZooKeeper acknowledged covered. */
  private touches = 0;
  private storedTouches = 0;
  private storedWaiters: { touches: number; resolve: () => void }[] | undefined;
  private creating = false;
  private createAgain = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private creates = 0;

  constructor(private readonly options: EphemeralNodeOptions) {
    this.writer = new NodeWriter<Content>({
      path: options.path,
      client: () => options.session.client,
      // The touches are counted before produce() runs: the content holds at least those changes.
      supply: () => ({ touches: this.touches, data: options.produce() }),
      encode: dataOf,
      minWriteIntervalMs: options.minWriteIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS,
      delayPolicy: routeWriteDelay,
      observe: (o) => {
        if (o.kind === 'written') this.markStored(o.value.touches);
      },
    });
  }

  /** A new session: the node died with the old one; create it again (the owner calls this on the session's 'session' event). */
  renew(): void {
    if (this.closed) return;
    this.writer.detach();
    if (this.touched) void this.create();
  }

  get path(): string {
    return this.options.path;
  }

  /** ZooKeeper writes so far: creates and setData calls. */
  get stats(): { writes: number; failures: number } {
    return { writes: this.creates + this.writer.stats.writes, failures: this.writer.stats.failures };
  }

  touch(): void {
    if (this.closed) return;
    this.touched = true;
    this.touches++;
    if (this.writer.attached) void this.writer.request().then((o) => this.onOutcome(o));
    else {
      void this.writer.request(); // counted; the create (or the flush right after it) writes it
      if (!this.creating) void this.create();
    }
  }

  /** Resolves once ZooKeeper holds what produce() returned at the time of the call (or the node is closed). */
  async flushed(): Promise<void> {
    for (let i = 0; i < 200 && !this.closed && (this.creating || (this.touched && !this.writer.attached)); i++) await new Promise((r) => setTimeout(r, 10));
    await this.writer.flushed();
  }

  /**
   * Resolves once ZooKeeper acknowledged a write holding every change touched so far (or a later
   * content); at once when closed. Never rejects: while ZooKeeper is away it waits.
   */
  stored(): Promise<void> {
    if (this.closed || this.storedTouches >= this.touches) return Promise.resolve();
    const wanted = this.touches;
    return new Promise((resolve) => (this.storedWaiters ??= []).push({ touches: wanted, resolve }));
  }

  private markStored(touches: number): void {
    if (touches <= this.storedTouches) return;
    this.storedTouches = touches;
    const waiters = this.storedWaiters;
    if (!waiters) return;
    const done = waiters.filter((w) => w.touches <= touches);
    this.storedWaiters = done.length === waiters.length ? undefined : waiters.filter((w) => w.touches > touches);
    for (const w of done) w.resolve();
  }

  private onOutcome(o: WriteOutcome<Content>): void {
    if (this.closed) return;
    if (o.kind === 'node-gone' || (o.kind === 'detached' && !this.writer.attached && !this.creating)) void this.create();
    else if (o.kind === 'connection-lost' || o.kind === 'failed') this.retryLater(() => void this.writer.flush()?.then((x) => this.onOutcome(x)));
  }

  private retryLater(fn: () => void): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      fn();
    }, DEFAULT_NODE_RETRY_MS);
  }

  /** Creates the node (or takes over one of our name), then hands it to the writer. */
  private async create(): Promise<void> {
    if (this.closed) return;
    if (this.creating) {
      this.createAgain = true;
      return;
    }
    this.creating = true;
    try {
      do {
        this.createAgain = false;
        await this.createOnce();
      } while (this.createAgain && !this.closed);
    } catch {
      this.retryLater(() => void this.create());
    } finally {
      this.creating = false;
    }
    if (this.writer.attached && !this.writer.upToDate) void this.writer.flush()?.then((o) => this.onOutcome(o));
  }

  private async createOnce(): Promise<void> {
    const path = this.options.path;
    for (let tries = 0; tries < 10 && !this.closed; tries++) {
      const zk = this.options.session.client;
      const { value, data, generation } = this.writer.snapshot();
      let version = 0;
      try {
        await zk.create(path, data, C.ZOO_EPHEMERAL);
      } catch (e) {
        if (!isZk(e, C.ZNODEEXISTS)) throw e;
        const stat = await zk.exists(path);
        if (!stat) continue;
        if (stat.ephemeralOwner !== zk.sessionId) {
          // Left by an earlier session or a crashed process with our name: the server node under this name is ours now, so its routes are too.
          await zk.delete(path, -1).catch((e2: unknown) => {
            if (!isZk(e2, C.ZNONODE)) throw e2;
          });
          continue;
        }
        version = (await zk.set(path, data, stat.version)).version;
      }
      this.creates++;
      this.markStored(value.touches);
      if (this.options.acl) {
        await zk.setAcl(path, -1, this.options.acl);
        const stat = await zk.exists(path);
        if (!stat) continue;
        version = stat.version;
      }
      this.writer.attach(version, generation);
      return;
    }
    if (!this.closed) throw new Error(`${path}: could not create the node`);
  }

  /** Stops writing and deletes the node (best effort: it dies with the session anyway). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.writer.close();
    const waiters = this.storedWaiters;
    this.storedWaiters = undefined;
    for (const w of waiters ?? []) w.resolve();
    if (!this.options.session.isConnected || !this.touched) return;
    try {
      await this.options.session.client.delete(this.options.path, -1);
    } catch {
      // gone already, or ZooKeeper away: the session's end removes it
    }
  }
}
