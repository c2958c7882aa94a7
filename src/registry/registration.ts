import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type ZooKeeper from 'zookeeper';
import { ClosedError, FulcrumError, InvalidArgumentError } from '../errors.js';
import { encodeServerData } from '../server-data.js';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import { pathLocks, type KeyedMutex } from '../zk/keyed-mutex.js';
import { mkdirp } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import type { BalanceUpdater } from './balance-updater.js';

/** First wait before re-trying a failed re-registration; doubles up to MAX_REREGISTER_DELAY_MS. */
export const DEFAULT_REREGISTER_DELAY_MS = 200;
export const MAX_REREGISTER_DELAY_MS = 2_000;
/** How often a registered node is checked (exists, one read) even when nothing happened. */
export const DEFAULT_VERIFY_INTERVAL_MS = 10_000;
/** Poll period while another live session holds our node name. */
export const CONFLICT_POLL_MS = 250;

/** The node name is held by a session that is not ours (another live server, or a persistent node). */
export class NodeConflictError extends FulcrumError {
  readonly owner: string;
  constructor(path: string, owner: string) {
    super('FULCRUM_NODE_CONFLICT', `${path} is held by another ZooKeeper session (ephemeralOwner 0x${owner}); not replacing it`);
    this.owner = owner;
  }
}

export interface RegistrationOptions {
  session: ZkSession;
  /** Parent of the server nodes; missing parents are created as persistent nodes. */
  root: string;
  /** Node name under the root; one live server per name. */
  name: string;
  /** Supplies the data to write and learns the node's version. */
  updater: BalanceUpdater;
  /**
   * `user:password`. The node gets the ACL world:READ + digest(user):ALL, and the root is narrowed
   * to the same, so without these credentials nobody can change or delete a server node, or
   * create one. Everyone can still read.
   */
  digest?: string;
  /**
   * A node with our name owned by a session that is neither the current nor an earlier session
   * of `session` is normally left alone (another live server holds the name). Return true here
   * to replace it anyway (e.g. a registration taken over from a peer that is known to be gone).
   */
  replaceForeign?: (node: { owner: string; data: Buffer }) => boolean;
  /** How long register() waits for a node held by a foreign session to vanish. @default 2 × the negotiated session timeout */
  conflictTimeoutMs?: number;
  /** Period of the self-check of a registered node; 0 disables it. @default DEFAULT_VERIFY_INTERVAL_MS (10000) */
  verifyIntervalMs?: number;
  locks?: KeyedMutex;
}

interface Acl {
  perms: number;
  scheme: string;
  auth: string;
}

/** ZooKeeper's digest id for `user:password`: `user:base64(sha1(user:password))`. */
export function digestId(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon <= 0) throw InvalidArgumentError.format('digest', 'must be user:password');
  const user = digest.slice(0, colon);
  return `${user}:${createHash('sha1').update(digest).digest('base64')}`;
}

/** The ACL fulcrum gives the root and every node when a digest is set: anyone reads, only `digest` does anything else. */
export function protectedAcl(digest: string): Acl[] {
  return [
    { perms: C.ZOO_PERM_READ, scheme: 'world', auth: 'anyone' },
    { perms: C.ZOO_PERM_ALL, scheme: 'digest', auth: digestId(digest) },
  ];
}

function sameAcl(a: readonly Acl[], b: readonly Acl[]): boolean {
  const key = (x: Acl) => `${x.scheme}\0${x.auth}\0${x.perms}`;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

type Attempt = { kind: 'done' } | { kind: 'conflict'; owner: string } | { kind: 'retry' };

/**
 * The registration provider: keeps one ephemeral node alive for a server across reconnects and
 * session expiry. After expiry the node is recreated with the *current* balance. A node with our
 * name left by an earlier session of ours is replaced; one held by anybody else is never touched
 * (no duplicate, no stealing): we wait for it to go.
 */
export class Registration extends EventEmitter<{ registered: [path: string]; unregistered: []; error: [Error] }> {
  readonly path: string;
  private active = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private ensuring: Promise<void> | undefined;
  private ensureAgain = false;
  private reportedConflict: string | undefined;
  private readonly locks: KeyedMutex;
  private readonly acl: Acl[] | undefined;
  private readonly onSession = () => this.ensure();
  private readonly onReconnected = () => this.ensure();
  private readonly onLost = () => this.ensure();
  /** How often the node had to be created again (after expiry or loss). */
  reregistrations = 0;

  constructor(private readonly options: RegistrationOptions) {
    super();
    this.path = `${options.root}/${options.name}`;
    this.locks = options.locks ?? pathLocks;
    this.acl = options.digest === undefined ? undefined : protectedAcl(options.digest);
  }

  get registered(): boolean {
    return this.active && this.options.updater.attachedPath === this.path;
  }

  /**
   * Creates the node. Rejects with NodeConflictError when another live session keeps the name
   * for longer than `conflictTimeoutMs` (a crashed predecessor's node goes within its session timeout).
   */
  async register(): Promise<string> {
    if (this.active) return this.path;
    this.active = true;
    try {
      const zk = await this.options.session.start();
      const timeoutMs = this.options.conflictTimeoutMs ?? 2 * zk.timeout;
      await this.establish(zk, Date.now() + timeoutMs);
    } catch (e) {
      this.active = false;
      throw e;
    }
    this.options.session.on('session', this.onSession);
    this.options.session.on('reconnected', this.onReconnected);
    this.options.updater.on('lost', this.onLost);
    const every = this.options.verifyIntervalMs ?? DEFAULT_VERIFY_INTERVAL_MS;
    if (every > 0) {
      this.verifyTimer = setInterval(() => {
        if (this.options.session.isConnected) this.ensure();
      }, every);
      this.verifyTimer.unref();
    }
    // The session may have been replaced while we were creating: check on the handle we have now.
    this.ensure();
    return this.path;
  }

  /** Checks the node and re-creates it if it is missing; coalesced, retried with backoff until it works or the registration ends. */
  private ensure(): void {
    if (!this.active) return;
    if (this.ensuring) {
      this.ensureAgain = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let zk: ZooKeeper;
    try {
      zk = this.options.session.zk;
    } catch {
      return; // a new session will announce itself with 'session'
    }
    this.ensureAgain = false;
    this.ensuring = this.verify(zk)
      .then(
        () => {
          this.retryAttempt = 0;
        },
        (e: unknown) => {
          if (!this.active) return;
          if (!isConnectionProblem(e) && !(e instanceof ClosedError)) this.report(e as Error);
          const delay = Math.min(DEFAULT_REREGISTER_DELAY_MS * 2 ** this.retryAttempt++, MAX_REREGISTER_DELAY_MS);
          this.retryTimer = setTimeout(() => this.ensure(), delay);
        },
      )
      .finally(() => {
        this.ensuring = undefined;
        if (this.ensureAgain) this.ensure();
      });
  }

  private report(e: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  private async verify(zk: ZooKeeper): Promise<void> {
    let stat: { ephemeralOwner: string; version: number } | undefined;
    try {
      stat = await zk.exists(this.path, false);
    } catch (e) {
      if (!isZk(e, C.ZNONODE)) throw e;
    }
    const updater = this.options.updater;
    if (stat && stat.ephemeralOwner === String(zk.client_id) && updater.attachedPath === this.path) {
      // Ours and attached. A version we did not write means a foreign write: publish the truth again.
      if (updater.attachedVersion !== stat.version) updater.touch();
      else updater.schedule();
      return;
    }
    updater.detach();
    await this.establish(zk, undefined);
    this.reregistrations++;
  }

  /** Creates (or adopts) the node on `zk`; waits while a foreign session holds the name. */
  private async establish(zk: ZooKeeper, deadline: number | undefined): Promise<void> {
    await mkdirp(zk, this.options.root);
    if (this.acl) await this.protectRoot(zk, this.acl);
    for (;;) {
      if (!this.active) return;
      const handle = zk;
      const r = await this.locks.runExclusive(this.path, () => this.attempt(handle));
      if (r.kind === 'done') {
        this.reportedConflict = undefined;
        return;
      }
      if (r.kind === 'retry') continue;
      const err = new NodeConflictError(this.path, r.owner);
      if (deadline !== undefined && Date.now() > deadline) throw err;
      if (this.reportedConflict !== r.owner) {
        this.reportedConflict = r.owner;
        this.report(err);
      }
      await new Promise((res) => setTimeout(res, CONFLICT_POLL_MS));
      // Follow a replaced session: its own 'session' event only re-checks what we do here.
      if (this.options.session.isConnected) zk = this.options.session.zk;
    }
  }

  /** One create attempt under the path lock. */
  private async attempt(zk: ZooKeeper): Promise<Attempt> {
    if (!this.active) return { kind: 'done' };
    const { data, generation } = this.options.updater.current();
    try {
      await zk.create(this.path, encodeServerData(data), C.ZOO_EPHEMERAL);
      return (await this.adopt(zk, { version: 0, generation })) ? { kind: 'done' } : { kind: 'retry' };
    } catch (e) {
      if (!isZk(e, C.ZNODEEXISTS)) throw e;
    }
    // A node with our name exists: ours (an earlier create whose answer was lost), an earlier session's of ours, or somebody else's.
    let stat: { ephemeralOwner: string; version: number };
    try {
      stat = await zk.exists(this.path, false);
    } catch (e) {
      if (isZk(e, C.ZNONODE)) return { kind: 'retry' };
      throw e;
    }
    const owner = String(stat.ephemeralOwner);
    if (owner === String(zk.client_id)) return (await this.adopt(zk, undefined)) ? { kind: 'done' } : { kind: 'retry' };
    let replace = this.options.session.ownsSessionId(owner);
    if (!replace && this.options.replaceForeign) {
      try {
        const [, buf] = (await zk.get(this.path, false)) as [unknown, Buffer];
        replace = this.options.replaceForeign({ owner, data: Buffer.isBuffer(buf) ? buf : Buffer.alloc(0) });
      } catch (e) {
        if (isZk(e, C.ZNONODE)) return { kind: 'retry' };
        throw e;
      }
    }
    if (!replace) return { kind: 'conflict', owner };
    try {
      await zk.delete_(this.path, stat.version);
    } catch (e) {
      if (!isZk(e, C.ZNONODE) && !isZk(e, C.ZBADVERSION)) throw e;
    }
    return { kind: 'retry' };
  }

  /**
   * Takes over a node our current session owns: narrows its ACL (digest), makes sure it holds our
   * current data and hands it to the updater. `created` is what our create just wrote, or
   * undefined when we do not know what the node holds. False: start over (the node was tampered with).
   */
  private async adopt(zk: ZooKeeper, created: { version: number; generation: number } | undefined): Promise<boolean> {
    const updater = this.options.updater;
    if (this.acl) {
      // create() always uses OPEN_ACL_UNSAFE (the native client has no ACL argument), so the node is
      // open until this set_acl. Nobody can delete it meanwhile (the root is ours), but someone could
      // write to it or change its ACL: the version check below rewrites such data, and a changed ACL
      // (NOAUTH here) makes us delete the node and create it again.
      try {
        await zk.set_acl(this.path, -1, this.acl);
      } catch (e) {
        if (!isZk(e, C.ZNOAUTH)) throw e;
        await zk.delete_(this.path, -1).catch((e2: unknown) => {
          if (!isZk(e2, C.ZNONODE)) throw e2;
        });
        return false;
      }
    }
    let written = created;
    if (!written || this.acl) {
      const stat: { version: number; ephemeralOwner: string } = await zk.exists(this.path, false);
      if (String(stat.ephemeralOwner) !== String(zk.client_id)) return false;
      if (!written || stat.version !== written.version) {
        // Unknown or foreign content: write what the counter holds now, versioned.
        const cur = updater.current();
        const next: { version: number } = await zk.set(this.path, encodeServerData(cur.data), stat.version);
        written = { version: next.version, generation: cur.generation };
      }
    }
    updater.attach(this.path, written.version, written.generation);
    this.emit('registered', this.path);
    return true;
  }

  /** With a digest: the root gets world:READ + digest:ALL, so nobody else can create or delete server nodes. */
  private async protectRoot(zk: ZooKeeper, acl: Acl[]): Promise<void> {
    const res = (await zk.get_acl(this.options.root)) as unknown;
    const current = Array.isArray(res) && Array.isArray(res[0]) ? (res[0] as Acl[]) : [];
    if (sameAcl(current, acl)) return;
    try {
      await zk.set_acl(this.options.root, -1, acl);
    } catch (e) {
      if (isZk(e, C.ZNOAUTH)) {
        throw new FulcrumError('FULCRUM_ZK_NOAUTH', `${this.options.root} is protected by other credentials; cannot register under it`, { cause: e });
      }
      throw e;
    }
  }

  /**
   * Deletes the node first, so discovery stops sending clients before any socket closes. Only a
   * node owned by one of our sessions is deleted; a conflicting peer's node is left alone.
   */
  async unregister(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.verifyTimer);
    this.retryTimer = this.verifyTimer = undefined;
    this.options.session.off('session', this.onSession);
    this.options.session.off('reconnected', this.onReconnected);
    this.options.updater.off('lost', this.onLost);
    this.options.updater.detach();
    let zk: ZooKeeper;
    try {
      zk = this.options.session.zk;
    } catch {
      return;
    }
    await this.locks.runExclusive(this.path, async () => {
      try {
        const stat: { ephemeralOwner: string; version: number } = await zk.exists(this.path, false);
        if (!this.options.session.ownsSessionId(String(stat.ephemeralOwner))) return;
        await zk.delete_(this.path, -1);
      } catch (e) {
        if (!isZk(e, C.ZNONODE)) throw e;
      }
    });
    this.emit('unregistered');
  }
}
