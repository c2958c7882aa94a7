import { mkdirp } from '../../zk/paths.js';
import { C, isZk } from '../../zk/codes.js';
import type { ZkSession } from '../../zk/session.js';
import type { ZkAcl, ZkClient } from '../../zk/zk-client.js';
import { FulcrumError } from '../../errors.js';
import { shardName, serverOfShard } from './route.js';
import { encodeShard } from './shard-codec.js';
import { DEFAULT_MIN_WRITE_INTERVAL_MS } from '../../registry/node-writer.js';
import { EphemeralNode } from '../ephemeral-node.js';

/** A shard splits (the shard count doubles) beyond this many users. @default 8192 */
export const DEFAULT_MAX_USERS_PER_SHARD = 8_192;
/** …or beyond this many estimated bytes: well under ZooKeeper's 1 MB node limit. */
export const MAX_SHARD_BYTES = 512 * 1024;
/** Per-entry overhead besides the user name (msgpack array of two numbers plus map framing). */
const ENTRY_OVERHEAD_BYTES = 16;

export interface RouteShardsOptions {
  session: ZkSession;
  routesRoot: string;
  /** Node name of this server. */
  server: string;
  /** @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** @default DEFAULT_MAX_USERS_PER_SHARD (8192) */
  maxUsersPerShard?: number;
  acl?: ZkAcl[];
}

/** FNV-1a: a stable, cheap spread of user names over shards. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

interface Shard {
  users: Map<string, readonly [number, number]>;
  bytes: number;
  node: EphemeralNode;
}

/**
 * This server's users in ZooKeeper: ephemeral nodes `<routes>/<server>#<k>` (k < 2^n), owned by
 * the server's session so they vanish with it. Changes are coalesced per shard; the shard count
 * doubles when one gets big, so no node nears the 1 MB limit even with a million users.
 */
export class RouteShards {
  private shards: Shard[] = [];
  private count = 0;
  private closed = false;
  /** A split is waiting for its new shards to be written before the old ones shed their movers. */
  private splitting = false;
  private readonly maxUsers: number;
  private readonly onSession = () => {
    for (const s of this.shards) s.node.renew();
  };

  constructor(private readonly options: RouteShardsOptions) {
    this.maxUsers = Math.max(1, options.maxUsersPerShard ?? DEFAULT_MAX_USERS_PER_SHARD);
    this.shards = [this.makeShard(0)];
    options.session.on('session', this.onSession);
  }

  /** Creates the routes root and removes shards of our name left by a dead predecessor process. */
  async start(): Promise<void> {
    const zk = await this.options.session.startClient();
    await mkdirp(zk, this.options.routesRoot);
    if (this.options.acl) await this.protectRoot(zk, this.options.acl);
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
  }

  /** With a digest, nobody else may create (fake) shards under the routes root. */
  private async protectRoot(zk: ZkClient, acl: ZkAcl[]): Promise<void> {
    const key = (a: ZkAcl) => `${a.scheme}\0${a.auth}\0${a.perms}`;
    const { acl: current } = await zk.getAcl(this.options.routesRoot);
    if (current.map(key).sort().join('\n') === acl.map(key).sort().join('\n')) return;
    try {
      await zk.setAcl(this.options.routesRoot, -1, acl);
    } catch (e) {
      if (isZk(e, C.ZNOAUTH)) throw new FulcrumError('FULCRUM_ZK_NOAUTH', `${this.options.routesRoot} is protected by other credentials; cannot publish routes under it`, { cause: e });
      throw e;
    }
  }

  get size(): number {
    return this.count;
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** ZooKeeper writes (creates and sets) so far, over all shards. */
  get writes(): number {
    return this.shards.reduce((n, s) => n + s.node.stats.writes, 0);
  }

  private makeShard(k: number): Shard {
    const users = new Map<string, readonly [number, number]>();
    const node = new EphemeralNode({
      session: this.options.session,
      path: `${this.options.routesRoot}/${shardName(this.options.server, k)}`,
      produce: () => encodeShard({ server: this.options.server, users }),
      minWriteIntervalMs: this.options.minWriteIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS,
      acl: this.options.acl,
    });
    return { users, bytes: 0, node };
  }

  private shardOf(user: string): Shard {
    return this.shards[fnv1a(user) & (this.shards.length - 1)]!;
  }

  set(user: string, since: number, seq: number): void {
    if (this.closed) return;
    const shard = this.shardOf(user);
    if (!shard.users.has(user)) {
      this.count++;
      shard.bytes += user.length + ENTRY_OVERHEAD_BYTES;
    }
    shard.users.set(user, [since, seq]);
    shard.node.touch();
    if (!this.splitting && this.tooBig(shard)) this.split();
  }

  delete(user: string): void {
    if (this.closed) return;
    const shard = this.shardOf(user);
    if (!shard.users.delete(user)) return;
    this.count--;
    shard.bytes -= user.length + ENTRY_OVERHEAD_BYTES;
    shard.node.touch();
  }

  has(user: string): boolean {
    return this.shardOf(user).users.has(user);
  }

  private tooBig(shard: Shard): boolean {
    return shard.users.size > this.maxUsers || shard.bytes > MAX_SHARD_BYTES;
  }

  /** Doubles the shard count. New shards are touched first so a moving user is in at least one node throughout. */
  private split(): void {
    this.splitting = true;
    const old = this.shards;
    const n = old.length * 2;
    const added = Array.from({ length: old.length }, (_, i) => this.makeShard(old.length + i));
    this.shards = [...old, ...added];
    for (const s of old) {
      for (const [user, entry] of s.users) {
        const k = fnv1a(user) & (n - 1);
        if (k < old.length) continue;
        const target = this.shards[k]!;
        target.users.set(user, entry);
        target.bytes += user.length + ENTRY_OVERHEAD_BYTES;
      }
    }
    for (const s of added) s.node.touch();
    // The old shards shed their movers once the new ones are written.
    void Promise.all(added.map((s) => s.node.flushed())).then(() => {
      if (this.closed) return;
      for (const s of old) {
        for (const user of s.users.keys()) {
          if ((fnv1a(user) & (n - 1)) >= old.length) {
            s.users.delete(user);
            s.bytes -= user.length + ENTRY_OVERHEAD_BYTES;
          }
        }
        s.node.touch();
      }
      this.splitting = false;
      // Logins during the split may have filled a shard again.
      if (this.shards.some((s) => this.tooBig(s))) this.split();
    });
  }

  flushed(): Promise<void> {
    return Promise.all(this.shards.map((s) => s.node.flushed())).then(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    this.options.session.off('session', this.onSession);
    await Promise.all(this.shards.map((s) => s.node.close()));
  }
}
