import { EventEmitter } from 'node:events';
import { FulcrumError } from '../../errors.js';
import { reportError } from '../../log/report-error.js';
import type { Logger } from '../../log/logger.js';
import { DEFAULT_MIN_WRITE_INTERVAL_MS, type DelayPolicy } from '../../registry/node-writer.js';
import { Registration } from '../../registry/registration.js';
import { isConnectionProblem, isZk, C } from '../../zk/codes.js';
import { mkdirp } from '../../zk/paths.js';
import type { SupervisedSession } from '../../zk/session.js';
import { serverOfShard, shardIndex, shardName } from './route.js';
import { encodeShard, shardBaseBytes, shardEntryBytes, type ShardData } from './shard-codec.js';

/** A shard splits (the shard count doubles) beyond this many users. @default 8192 */
export const DEFAULT_MAX_USERS_PER_SHARD = 8_192;
/** …or when its users take more than this many encoded bytes (MessagePack, counted exactly per entry, bounded above). */
export const MAX_SHARD_BYTES = 512 * 1024;
/**
 * No shard node is ever written larger than this: ZooKeeper refuses a request over jute.maxbuffer
 * (1 MiB by default, request overhead included) by dropping the connection. A shard over it (only
 * while a split waits for ZooKeeper) is held back until its moving users are shed.
 */
export const SHARD_HARD_LIMIT_BYTES = 1024 * 1024 - 64 * 1024;
/**
 * The shard count stops doubling here (1,024 shards, room for about 500 MB of routes per server):
 * user names crafted to collide in the hash cannot make a server create nodes without end.
 */
export const MAX_SHARD_COUNT = 1_024;
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

/** A shard's encoding passed SHARD_HARD_LIMIT_BYTES: it is not written until it shrinks. */
export class ShardTooLargeError extends FulcrumError {
  constructor(path: string, bytes: number) {
    super('FULCRUM_ROUTE_SHARD_TOO_LARGE', `${path} would take ${bytes} bytes (limit ${SHARD_HARD_LIMIT_BYTES}); held back until its moving users are shed`);
  }
}

export interface RouteShardsOptions {
  session: SupervisedSession;
  routesRoot: string;
  /** Node name of this server. */
  server: string;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** @default DEFAULT_MAX_USERS_PER_SHARD (8192) */
  maxUsersPerShard?: number;
  /** `user:password`: the routes root and every shard get the server nodes' ACL (see RegistrationOptions.digest). */
  digest?: string;
  /** Where failures go when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
}

type Entry = readonly [since: number, seq: number];

interface Shard {
  readonly k: number;
  /** Users whose shard this is now. */
  readonly own: Map<string, Entry>;
  /** Users moved to a newer shard by a split, kept here until that shard's write with them is acknowledged. */
  readonly leaving: Map<string, Entry>;
  ownBytes: number;
  leavingBytes: number;
  readonly reg: Registration<ShardData>;
}

/**
 * This server's users in ZooKeeper: ephemeral nodes `<routes>/<server>#<k>` (k < 2^n), each owned
 * through a Registration (the server node's lifecycle: created in the background, re-created after
 * a new session or when gone, verified, retried with backoff, failures reported). Changes are
 * coalesced per shard; the shard count doubles when a shard gets big by encoded bytes or users, so
 * no node nears ZooKeeper's 1 MiB limit. A user moving to a new shard stays in its old one until
 * the new one is written: it is in at least one node throughout.
 */
export class RouteShards extends EventEmitter<{ error: [Error] }> {
  private readonly shards: Shard[] = [];
  private count = 0;
  /** Users in some shard's `leaving` (a split in progress); 0 most of the time. */
  private leavingTotal = 0;
  private closed = false;
  private started = false;
  private reportedFull = false;
  private readonly maxUsers: number;
  private readonly baseBytes: number;

  constructor(private readonly options: RouteShardsOptions) {
    super();
    this.maxUsers = Math.max(1, options.maxUsersPerShard ?? DEFAULT_MAX_USERS_PER_SHARD);
    this.baseBytes = shardBaseBytes(options.server);
    this.shards.push(this.makeShard(0));
  }

  /** Creates the routes root, removes shards of our name left by a dead predecessor process, then opens the shards. */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    const zk = await this.options.session.startClient();
    await mkdirp(zk, this.options.routesRoot);
    const names = await zk.children(this.options.routesRoot);
    await Promise.all(
      names
        .filter((n) => serverOfShard(n) === this.options.server)
        .map(async (n) => {
          const path = `${this.options.routesRoot}/${n}`;
          try {
            const stat = await zk.exists(path);
            if (stat && stat.ephemeralOwner !== zk.sessionId) await zk.delete(path, -1);
          } catch (e) {
            if (!isZk(e, C.ZNONODE)) throw e;
          }
        }),
    );
    if (this.closed) return;
    this.started = true;
    for (const s of this.shards) s.reg.open();
  }

  get size(): number {
    return this.count;
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** ZooKeeper writes (creates and sets) so far, over all shards. */
  get writes(): number {
    return this.shards.reduce((n, s) => n + s.reg.stats.creates + s.reg.writer.stats.writes, 0);
  }

  /** Encoded-size bound of every shard's content now (for tests and metrics). */
  shardBytes(): number[] {
    return this.shards.map((s) => this.baseBytes + s.ownBytes + s.leavingBytes);
  }

  private makeShard(k: number): Shard {
    const own = new Map<string, Entry>();
    const leaving = new Map<string, Entry>();
    const server = this.options.server;
    const reg = new Registration<ShardData>({
      session: this.options.session,
      root: this.options.routesRoot,
      name: shardName(server, k),
      // Disjoint: a user leaving a shard never belongs to it again (the count only doubles).
      data: () => ({ server, users: leaving.size === 0 ? own : new Map([...leaving, ...own]) }),
      encode: (value) => {
        const bytes = encodeShard(value);
        if (bytes.length > SHARD_HARD_LIMIT_BYTES) throw new ShardTooLargeError(reg.path, bytes.length);
        return bytes;
      },
      digest: this.options.digest,
      // Our server node holds this name, so a shard of it left by anybody (a crashed predecessor) is stale.
      replaceForeign: () => true,
      minWriteIntervalMs: this.options.minWriteIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS,
      delayPolicy: routeWriteDelay,
      logger: this.options.logger,
      component: 'RouteShards',
    });
    reg.on('error', (e) => reportError(this, e, this.options.logger, { component: 'RouteShards', path: reg.path }));
    const shard: Shard = { k, own, leaving, ownBytes: 0, leavingBytes: 0, reg };
    if (this.started) reg.open();
    return shard;
  }

  private shardOf(user: string): Shard {
    return this.shards[shardIndex(user, this.shards.length)]!;
  }

  /**
   * Publishes `user`'s route. Resolves once ZooKeeper acknowledged a shard write containing this
   * route or a newer state of the user (replaced or deleted); never rejects while the shards are
   * open (writes retry with backoff); resolves at once when they are closed.
   */
  set(user: string, since: number, seq: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    const shard = this.shardOf(user);
    if (!shard.own.has(user)) {
      this.count++;
      shard.ownBytes += shardEntryBytes(user);
    }
    shard.own.set(user, [since, seq]);
    const generation = shard.reg.publish();
    if (this.tooBig(shard)) this.split();
    return shard.reg.acknowledged(generation);
  }

  /** Removes `user`'s route (written coalesced, like set()). */
  delete(user: string): void {
    if (this.closed) return;
    const shard = this.shardOf(user);
    if (shard.own.delete(user)) {
      this.count--;
      shard.ownBytes -= shardEntryBytes(user);
      shard.reg.publish();
    }
    if (this.leavingTotal === 0) return;
    // Gone for good: no old shard should keep routing to it.
    for (const s of this.shards) if (this.unlist(s, user)) s.reg.publish();
  }

  has(user: string): boolean {
    return this.shardOf(user).own.has(user);
  }

  private unlist(s: Shard, user: string): boolean {
    if (!s.leaving.delete(user)) return false;
    s.leavingBytes -= shardEntryBytes(user);
    this.leavingTotal--;
    return true;
  }

  private tooBig(shard: Shard): boolean {
    return shard.own.size > this.maxUsers || shard.ownBytes > MAX_SHARD_BYTES;
  }

  /**
   * Doubles the shard count (again, while a shard is still too big). Movers stay listed in their
   * old shard until their new shard's write with them is acknowledged, then the old one sheds them.
   */
  private split(): void {
    while (this.shards.some((s) => this.tooBig(s))) {
      const n = this.shards.length;
      if (n >= MAX_SHARD_COUNT) {
        if (!this.reportedFull) {
          this.reportedFull = true;
          reportError(this, new FulcrumError('FULCRUM_ROUTE_SHARDS_FULL', `${this.options.server}: ${n} route shards and one still over its limit; not splitting further`), this.options.logger, { component: 'RouteShards' });
        }
        return;
      }
      for (let i = 0; i < n; i++) this.shards.push(this.makeShard(n + i));
      const moves = new Map<Shard, { from: Shard; user: string }[]>();
      for (const from of this.shards.slice(0, n)) {
        for (const [user, entry] of from.own) {
          const to = this.shards[shardIndex(user, 2 * n)]!;
          if (to === from) continue;
          const bytes = shardEntryBytes(user);
          from.own.delete(user);
          from.ownBytes -= bytes;
          from.leaving.set(user, entry);
          from.leavingBytes += bytes;
          this.leavingTotal++;
          to.own.set(user, entry);
          to.ownBytes += bytes;
          let list = moves.get(to);
          if (!list) moves.set(to, (list = []));
          list.push({ from, user });
        }
      }
      for (const to of this.shards.slice(n)) {
        const generation = to.reg.publish();
        const moved = moves.get(to);
        if (!moved) continue;
        void to.reg.acknowledged(generation).then(() => this.shed(moved));
      }
    }
  }

  /** The new shard holds these users now: their old shards drop them. */
  private shed(moved: readonly { from: Shard; user: string }[]): void {
    if (this.closed) return;
    const touched = new Set<Shard>();
    for (const { from, user } of moved) if (this.unlist(from, user)) touched.add(from);
    for (const s of touched) s.reg.publish();
  }

  /**
   * Writes every shard again; resolves once ZooKeeper acknowledged each (after a session expiry:
   * once every route is back in the new session).
   */
  republished(): Promise<void> {
    return Promise.all(this.shards.map((s) => s.reg.acknowledged(s.reg.publish()))).then(() => {});
  }

  /** Resolves once ZooKeeper holds every shard's current content (waiting through re-creations). */
  flushed(): Promise<void> {
    return Promise.all(this.shards.map((s) => s.reg.acknowledged(s.reg.writer.generation))).then(() => {});
  }

  /** Stops writing and deletes the shard nodes (best effort: they die with the session anyway). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.shards.map((s) =>
        s.reg.unregister().catch((e: unknown) => {
          if (!isConnectionProblem(e)) reportError(this, e instanceof Error ? e : new Error(String(e)), this.options.logger, { component: 'RouteShards', path: s.reg.path });
        }),
      ),
    );
  }
}
