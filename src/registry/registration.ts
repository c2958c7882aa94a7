import { EventEmitter } from 'node:events';
import type ZooKeeper from 'zookeeper';
import { ClosedError } from '../errors.js';
import { encodeServerData } from '../server-data.js';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import { pathLocks, type KeyedMutex } from '../zk/keyed-mutex.js';
import { mkdirp } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import type { BalanceUpdater } from './balance-updater.js';

export const DEFAULT_REREGISTER_DELAY_MS = 200;

export interface RegistrationOptions {
  session: ZkSession;
  /** Parent of the server nodes; missing parents are created as persistent nodes. */
  root: string;
  /** Node name under the root; one live server per name. */
  name: string;
  /** Supplies the data to write and learns the node's version. */
  updater: BalanceUpdater;
  /** When set, the node gets digest ACLs: anyone reads, only this identity (`user:password`) changes it. */
  digest?: string;
  locks?: KeyedMutex;
}

/**
 * The registration provider: keeps one ephemeral node alive for a server across reconnects and
 * session expiry. After expiry the node is recreated with the *current* balance; a node left by
 * an older session of ours is replaced, never duplicated.
 */
export class Registration extends EventEmitter<{ registered: [path: string]; unregistered: []; error: [Error] }> {
  readonly path: string;
  private active = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly locks: KeyedMutex;
  private readonly onSession = () => this.ensure();
  private readonly onReconnected = () => this.ensure();
  /** How often the node had to be created again (after expiry or loss). */
  reregistrations = 0;

  constructor(private readonly options: RegistrationOptions) {
    super();
    this.path = `${options.root}/${options.name}`;
    this.locks = options.locks ?? pathLocks;
  }

  get registered(): boolean {
    return this.active && this.options.updater.attachedPath === this.path;
  }

  async register(): Promise<string> {
    if (this.active) return this.path;
    this.active = true;
    const zk = await this.options.session.start();
    await mkdirp(zk, this.options.root);
    await this.createNode(zk);
    this.options.session.on('session', this.onSession);
    this.options.session.on('reconnected', this.onReconnected);
    return this.path;
  }

  /** Re-creates the node if it is missing; retries until it works or the registration ends. */
  private ensure(): void {
    clearTimeout(this.retryTimer);
    if (!this.active) return;
    let zk: ZooKeeper;
    try {
      zk = this.options.session.zk;
    } catch {
      return; // a new session will announce itself with 'session'
    }
    this.verify(zk).catch((e: unknown) => {
      if (!this.active) return;
      if (!isConnectionProblem(e) && !(e instanceof ClosedError) && this.listenerCount('error') > 0) this.emit('error', e as Error);
      this.retryTimer = setTimeout(() => this.ensure(), DEFAULT_REREGISTER_DELAY_MS);
    });
  }

  private async verify(zk: ZooKeeper): Promise<void> {
    try {
      const stat = await zk.exists(this.path, false);
      if (stat.ephemeralOwner === String(zk.client_id)) {
        this.options.updater.schedule();
        return;
      }
    } catch (e) {
      if (!isZk(e, C.ZNONODE)) throw e;
    }
    this.options.updater.detach();
    await mkdirp(zk, this.options.root);
    await this.createNode(zk);
    this.reregistrations++;
  }

  private async createNode(zk: ZooKeeper): Promise<void> {
    await this.locks.runExclusive(this.path, async () => {
      for (;;) {
        if (!this.active) return;
        const { data, generation } = this.options.updater.current();
        const buf = encodeServerData(data);
        try {
          await zk.create(this.path, buf, C.ZOO_EPHEMERAL);
          const version = await this.protect(zk, 0);
          this.options.updater.attach(this.path, version, generation);
          this.emit('registered', this.path);
          return;
        } catch (e) {
          if (!isZk(e, C.ZNODEEXISTS)) throw e;
        }
        // A node with our name exists: ours (an earlier create whose answer was lost) or an older session's.
        let stat: { ephemeralOwner: string; version: number };
        try {
          stat = await zk.exists(this.path, false);
        } catch (e) {
          if (isZk(e, C.ZNONODE)) continue;
          throw e;
        }
        if (stat.ephemeralOwner === String(zk.client_id)) {
          const next = await zk.set(this.path, buf, stat.version);
          this.options.updater.attach(this.path, next.version as number, generation);
          this.emit('registered', this.path);
          return;
        }
        try {
          await zk.delete_(this.path, stat.version);
        } catch (e) {
          if (!isZk(e, C.ZNONODE) && !isZk(e, C.ZBADVERSION)) throw e;
        }
      }
    });
  }

  /** With a digest set, narrows the node's ACL to world:read + our identity; returns the data version. */
  private async protect(zk: ZooKeeper, version: number): Promise<number> {
    const digest = this.options.digest;
    if (!digest) return version;
    await zk.set_acl(this.path, -1, [
      { perms: C.ZOO_PERM_READ, scheme: 'world', auth: 'anyone' },
      { perms: C.ZOO_PERM_ALL, scheme: 'auth', auth: '' },
    ]);
    return version;
  }

  /** Deletes the node first, so discovery stops sending clients before any socket closes. */
  async unregister(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.retryTimer);
    this.options.session.off('session', this.onSession);
    this.options.session.off('reconnected', this.onReconnected);
    this.options.updater.detach();
    let zk: ZooKeeper;
    try {
      zk = this.options.session.zk;
    } catch {
      return;
    }
    await this.locks.runExclusive(this.path, async () => {
      try {
        await zk.delete_(this.path, -1);
      } catch (e) {
        if (!isZk(e, C.ZNONODE)) throw e;
      }
    });
    this.emit('unregistered');
  }
}
