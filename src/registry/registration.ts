import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ClosedError, FulcrumError, InvalidArgumentError, ZkError } from '../errors.js';
import { Backoff } from '../backoff.js';
import { reportError } from '../log/report-error.js';
import type { Logger } from '../log/logger.js';
import { C, isConnectionProblem, isZk } from '../zk/codes.js';
import { pathLocks, type KeyedMutex } from '../zk/keyed-mutex.js';
import { mkdirp } from '../zk/paths.js';
import type { SupervisedSession } from '../zk/session.js';
import type { ZkAcl, ZkClient } from '../zk/zk-client.js';
import { NodeWriter, type DelayPolicy, type WriteOutcome } from './node-writer.js';

/** First wait before re-trying a failed (re-)creation; doubles (with jitter) up to MAX_REREGISTER_DELAY_MS. */
export const DEFAULT_REREGISTER_DELAY_MS = 200;
export const MAX_REREGISTER_DELAY_MS = 2_000;
/** How often a registered node is checked (exists, one read) even when nothing happened. */
export const DEFAULT_VERIFY_INTERVAL_MS = 10_000;
/** Poll period while another live session holds our node name. */
export const CONFLICT_POLL_MS = 250;
/** First wait before writing again after a write failed (connection loss or an unexpected error); doubles (with jitter) up to MAX_RETRY_DELAY_MS. */
export const DEFAULT_RETRY_DELAY_MS = 250;
export const MAX_RETRY_DELAY_MS = 5_000;

/** The node name is held by a session that is not ours (another live server, or a persistent node). */
export class NodeConflictError extends FulcrumError {
  readonly owner: string;
  constructor(path: string, owner: string) {
    super('FULCRUM_NODE_CONFLICT', `${path} is held by another ZooKeeper session (ephemeralOwner 0x${owner}); not replacing it`);
    this.owner = owner;
  }
}

/**
 * Creating or writing an owned node failed for another reason than connection loss (those are
 * retried quietly). Reported once per failed attempt; the registration retries after `retryInMs`
 * (doubling backoff). `cause` is the failure, `zkCode` its ZooKeeper code when it has one.
 */
export class NodeRetryError extends FulcrumError {
  readonly path: string;
  readonly op: 'create' | 'write';
  readonly attempt: number;
  readonly retryInMs: number | undefined;
  readonly zkCode: number | undefined;
  constructor(path: string, op: 'create' | 'write', attempt: number, retryInMs: number | undefined, cause: Error) {
    const next = retryInMs === undefined ? 'a retry is already scheduled' : `next try in ${Math.round(retryInMs)} ms`;
    super(op === 'create' ? 'FULCRUM_NODE_CREATE_FAILED' : 'FULCRUM_NODE_WRITE_FAILED', `${op} of ${path} failed (attempt ${attempt}, ${next}): ${cause.message}`, { cause });
    this.path = path;
    this.op = op;
    this.attempt = attempt;
    this.retryInMs = retryInMs;
    this.zkCode = cause instanceof ZkError ? cause.zkCode : undefined;
  }
}

export interface RegistrationOptions<T> {
  session: SupervisedSession;
  /** Parent of the server nodes; missing parents are created as persistent nodes. */
  root: string;
  /** Node name under the root; one live server per name. */
  name: string;
  /** The truth to publish, read at each write (and at each create). */
  data: () => T;
  encode: (value: T) => Buffer;
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
  /** How long register() waits for a node held by a foreign session to vanish; 0 fails at once. @default 2 × the negotiated session timeout */
  conflictTimeoutMs?: number;
  /** Period of the self-check of a registered node; 0 disables it. @default DEFAULT_VERIFY_INTERVAL_MS (10000) */
  verifyIntervalMs?: number;
  /** Passed to the NodeWriter. @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** Passed to the NodeWriter. @default minIntervalDelay */
  delayPolicy?: DelayPolicy;
  /** First wait before a failed write is tried again (doubling up to MAX_RETRY_DELAY_MS). @default DEFAULT_RETRY_DELAY_MS (250) */
  retryDelayMs?: number;
  /** Passed to the NodeWriter as `observe` (outcome and duration of every write). */
  observeWrite?: (outcome: WriteOutcome<T>, seconds: number) => void;
  locks?: KeyedMutex;
  /** Where failures go when nobody listens for 'error' (see reportError). @default defaultLogger() */
  logger?: Logger;
  /** Names the owner in logged failures. @default 'Registration' */
  component?: string;
}

/**
 * idle → creating → attached; attached → recreating → attached after the node vanished (expiry,
 * deletion, taken by nobody); creating/recreating ↔ conflict while a foreign session holds the
 * name; anything → closed on unregister. A failed register() goes back to idle.
 */
export type RegistrationState = 'idle' | 'creating' | 'attached' | 'conflict' | 'recreating' | 'closed';

export interface RegistrationEvents<T> {
  state: [to: RegistrationState, from: RegistrationState];
  registered: [path: string];
  unregistered: [];
  /** ZooKeeper holds `value` now. */
  written: [value: T];
  error: [Error];
}

/** ZooKeeper's digest id for `user:password`: `user:base64(sha1(user:password))`. */
export function digestId(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon <= 0) throw InvalidArgumentError.format('digest', 'must be user:password');
  const user = digest.slice(0, colon);
  return `${user}:${createHash('sha1').update(digest).digest('base64')}`;
}

/** The ACL fulcrum gives the root and every node when a digest is set: anyone reads, only `digest` does anything else. */
export function protectedAcl(digest: string): ZkAcl[] {
  return [
    { perms: C.ZOO_PERM_READ, scheme: 'world', auth: 'anyone' },
    { perms: C.ZOO_PERM_ALL, scheme: 'digest', auth: digestId(digest) },
  ];
}

function sameAcl(a: readonly ZkAcl[], b: readonly ZkAcl[]): boolean {
  const key = (x: ZkAcl) => `${x.scheme}\0${x.auth}\0${x.perms}`;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

type Attempt = { kind: 'done' } | { kind: 'conflict'; owner: string } | { kind: 'retry' } | { kind: 'no-parent' };

/**
 * Keeps one ephemeral node alive across reconnects and session expiry, and drives the NodeWriter
 * that keeps its data current: the one owned-node lifecycle of fulcrum (a server's node, its
 * route shards). The registration alone owns the node's path and version and its state (changed
 * only in transition()). After expiry the node is recreated with the *current* data. A node with
 * our name left by an earlier session of ours is replaced; one held by anybody else is never
 * touched (no duplicate, no stealing) unless `replaceForeign` says so: we wait for it to go.
 *
 * Two independent retry loops, each with its own backoff: creating/verifying the node, and writing
 * it. A failed write never stops a re-creation from being retried, nor the other way round.
 */
export class Registration<T> extends EventEmitter<RegistrationEvents<T>> {
  readonly path: string;
  readonly writer: NodeWriter<T>;
  /** ZooKeeper calls that changed the node: creates (sets are in writer.stats.writes). */
  readonly stats = { creates: 0 };
  private current: RegistrationState = 'idle';
  private readonly ensureBackoff = new Backoff({ baseMs: DEFAULT_REREGISTER_DELAY_MS, maxMs: MAX_REREGISTER_DELAY_MS, unref: false });
  private readonly writeBackoff: Backoff;
  private verifyTimer: NodeJS.Timeout | undefined;
  private ensuring: Promise<void> | undefined;
  private ensureAgain = false;
  private reportedConflict: string | undefined;
  private driven: Promise<WriteOutcome<T>> | undefined;
  /** The handle on which the root is known to exist (and to be protected): checked once per session. */
  private rootReadyOn: ZkClient | undefined;
  private readonly locks: KeyedMutex;
  private readonly acl: ZkAcl[] | undefined;
  private readonly onSession = () => this.ensure();
  private readonly onReconnected = () => this.ensure();
  /** How often the node had to be created again (after expiry or loss). */
  reregistrations = 0;

  constructor(private readonly options: RegistrationOptions<T>) {
    super();
    this.path = `${options.root}/${options.name}`;
    this.locks = options.locks ?? pathLocks;
    this.acl = options.digest === undefined ? undefined : protectedAcl(options.digest);
    const retryMs = Math.max(10, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    this.writeBackoff = new Backoff({ baseMs: retryMs, maxMs: Math.max(retryMs, MAX_RETRY_DELAY_MS), unref: false });
    this.writer = new NodeWriter<T>({
      path: this.path,
      client: () => options.session.client,
      supply: options.data,
      encode: options.encode,
      minWriteIntervalMs: options.minWriteIntervalMs,
      delayPolicy: options.delayPolicy,
      observe: options.observeWrite,
      locks: this.locks,
    });
  }

  get state(): RegistrationState {
    return this.current;
  }

  get registered(): boolean {
    return this.current === 'attached' && this.writer.attached;
  }

  private get active(): boolean {
    return this.current !== 'idle' && this.current !== 'closed';
  }

  /** The one place the state changes. */
  private transition(to: RegistrationState): void {
    const from = this.current;
    // Closed is final: work still in flight when unregister() ran must not bring the node back.
    if (from === to || from === 'closed') return;
    this.current = to;
    try {
      this.emit('state', to, from);
    } catch (e) {
      this.report(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /**
   * The data changed: publish it (coalesced; written by the create when the node does not exist
   * yet). Returns the change's generation, for acknowledged().
   */
  publish(): number {
    this.drive(this.writer.request());
    return this.writer.generation;
  }

  /** Resolves once ZooKeeper holds the data as of now (or the node is detached). */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }

  /**
   * Resolves once ZooKeeper acknowledged a write or create carrying the change `generation`
   * (publish()'s answer), however many failures, re-creations and sessions that takes; at once
   * when the registration is closed.
   */
  acknowledged(generation: number): Promise<void> {
    return this.writer.acknowledged(generation);
  }

  /**
   * Creates the node. Rejects with NodeConflictError when another live session keeps the name
   * for longer than `conflictTimeoutMs` (a crashed predecessor's node goes within its session timeout).
   */
  async register(): Promise<string> {
    if (this.current === 'closed') throw new ClosedError('Registration');
    if (this.active) return this.path;
    this.transition('creating');
    try {
      const zk = await this.options.session.startClient();
      const timeoutMs = this.options.conflictTimeoutMs ?? 2 * zk.timeoutMs;
      await this.establish(zk, Date.now() + timeoutMs, 'creating');
    } catch (e) {
      if ((this.current as RegistrationState) !== 'closed') {
        this.writer.detach();
        this.transition('idle');
      }
      throw e;
    }
    if (!this.active) return this.path; // unregistered meanwhile
    this.supervise();
    // The session may have been replaced while we were creating: check on the handle we have now.
    this.ensure();
    return this.path;
  }

  /**
   * Creates the node in the background and keeps it: never throws, retries with backoff (failures
   * other than connection loss are reported) until the node exists or the registration ends. For
   * nodes whose absence nobody can wait for, such as route shards; acknowledged() tells when
   * their data is in ZooKeeper.
   */
  open(): void {
    if (this.current !== 'idle') return;
    this.transition('creating');
    this.supervise();
    this.ensure();
  }

  /** Follows the session and checks the node periodically. */
  private supervise(): void {
    this.options.session.on('session', this.onSession);
    this.options.session.on('reconnected', this.onReconnected);
    const every = this.options.verifyIntervalMs ?? DEFAULT_VERIFY_INTERVAL_MS;
    if (every > 0) {
      this.verifyTimer = setInterval(() => {
        if (this.options.session.isConnected) this.ensure();
      }, every);
      this.verifyTimer.unref();
    }
  }

  /** Acts on what a write came to: the writer reports, the registration decides. */
  private drive(p: Promise<WriteOutcome<T>> | undefined): void {
    if (!p || p === this.driven) return;
    this.driven = p;
    void p.then((o) => this.onWrite(o));
  }

  private onWrite(o: WriteOutcome<T>): void {
    if (!this.active) return;
    switch (o.kind) {
      case 'written':
        this.writeBackoff.succeeded();
        try {
          this.emit('written', o.value);
        } catch (e) {
          this.report(e instanceof Error ? e : new Error(String(e)));
        }
        return;
      case 'node-gone':
        this.ensure(); // recreate it with the live data
        return;
      case 'failed':
      case 'connection-lost': {
        const retryInMs = this.writeBackoff.schedule(() => {
          if (this.current === 'attached') this.drive(this.writer.flush());
        });
        if (o.kind === 'failed') this.report(new NodeRetryError(this.path, 'write', this.writeBackoff.attempt, retryInMs, o.error));
        return;
      }
      case 'detached':
        return;
    }
  }

  /** Checks the node and re-creates it if it is missing; coalesced, retried with backoff until it works or the registration ends. */
  private ensure(): void {
    if (!this.active) return;
    if (this.ensuring) {
      this.ensureAgain = true;
      return;
    }
    this.ensureBackoff.cancel();
    let zk: ZkClient;
    try {
      zk = this.options.session.client;
    } catch {
      return; // a new session will announce itself with 'session'
    }
    this.ensureAgain = false;
    this.ensuring = this.verify(zk)
      .then(
        () => this.ensureBackoff.succeeded(),
        (e: unknown) => {
          if (!this.active) return;
          const retryInMs = this.ensureBackoff.schedule(() => this.ensure());
          if (!isConnectionProblem(e)) this.report(new NodeRetryError(this.path, 'create', this.ensureBackoff.attempt, retryInMs, e instanceof Error ? e : new Error(String(e))));
        },
      )
      .finally(() => {
        this.ensuring = undefined;
        if (this.ensureAgain) this.ensure();
      });
  }

  private report(e: Error): void {
    reportError(this, e, this.options.logger, { component: this.options.component ?? 'Registration', path: this.path });
  }

  private async verify(zk: ZkClient): Promise<void> {
    const stat = await zk.exists(this.path);
    if (!this.active) return; // unregistered meanwhile
    if (stat && stat.ephemeralOwner === zk.sessionId && this.writer.attached) {
      // Ours and attached. A version we did not write means a foreign write: publish the truth again.
      if (this.writer.nodeVersion !== stat.version) this.publish();
      else this.drive(this.writer.flush());
      return;
    }
    this.writer.detach();
    // Still creating (open()) until the first create lands; re-creating after that.
    const mode = this.current === 'creating' ? 'creating' : 'recreating';
    this.transition(mode);
    await this.establish(zk, undefined, mode);
    if (mode === 'recreating') this.reregistrations++;
  }

  /** Creates (or adopts) the node on `zk`; waits while a foreign session holds the name. */
  private async establish(zk: ZkClient, deadline: number | undefined, mode: 'creating' | 'recreating'): Promise<void> {
    for (;;) {
      if (!this.active) return;
      if (this.rootReadyOn !== zk) {
        await mkdirp(zk, this.options.root);
        if (this.acl) await this.protectRoot(zk, this.acl);
        this.rootReadyOn = zk;
      }
      const handle = zk;
      const r = await this.locks.runExclusive(this.path, () => this.attempt(handle));
      if (r.kind === 'done') {
        this.reportedConflict = undefined;
        return;
      }
      if (r.kind === 'no-parent') {
        this.rootReadyOn = undefined; // the root was deleted behind our back: create it again
        continue;
      }
      if (r.kind === 'retry') {
        if (this.current === 'conflict') this.transition(mode);
        continue;
      }
      const err = new NodeConflictError(this.path, r.owner);
      if (deadline !== undefined && Date.now() >= deadline) throw err;
      this.transition('conflict');
      if (this.reportedConflict !== r.owner) {
        this.reportedConflict = r.owner;
        this.report(err);
      }
      await new Promise((res) => setTimeout(res, CONFLICT_POLL_MS));
      // Follow a replaced session: its own 'session' event only re-checks what we do here.
      if (this.options.session.isConnected) zk = this.options.session.client;
    }
  }

  /** One create attempt under the path lock. */
  private async attempt(zk: ZkClient): Promise<Attempt> {
    if (!this.active) return { kind: 'done' };
    const { data, generation } = this.writer.snapshot();
    try {
      await zk.create(this.path, data, C.ZOO_EPHEMERAL);
      this.stats.creates++;
      return (await this.adopt(zk, { version: 0, generation })) ? { kind: 'done' } : { kind: 'retry' };
    } catch (e) {
      if (isZk(e, C.ZNONODE)) return { kind: 'no-parent' };
      if (!isZk(e, C.ZNODEEXISTS)) throw e;
    }
    // A node with our name exists: ours (an earlier create whose answer was lost), an earlier session's of ours, or somebody else's.
    const stat = await zk.exists(this.path);
    if (!stat) return { kind: 'retry' };
    const owner = stat.ephemeralOwner;
    if (owner === zk.sessionId) return (await this.adopt(zk, undefined)) ? { kind: 'done' } : { kind: 'retry' };
    let replace = this.options.session.ownsSessionId(owner);
    if (!replace && this.options.replaceForeign) {
      let node;
      try {
        node = await zk.get(this.path);
      } catch (e) {
        if (isZk(e, C.ZNONODE)) return { kind: 'retry' };
        throw e;
      }
      replace = this.options.replaceForeign({ owner, data: node.data });
    }
    if (!replace) return { kind: 'conflict', owner };
    try {
      await zk.delete(this.path, stat.version);
    } catch (e) {
      if (!isZk(e, C.ZNONODE) && !isZk(e, C.ZBADVERSION)) throw e;
    }
    return { kind: 'retry' };
  }

  /**
   * Takes over a node our current session owns: narrows its ACL (digest), makes sure it holds our
   * current data and attaches the writer. `created` is what our create just wrote, or undefined
   * when we do not know what the node holds. False: start over (the node was tampered with).
   */
  private async adopt(zk: ZkClient, created: { version: number; generation: number } | undefined): Promise<boolean> {
    if (this.acl) {
      // create() always uses OPEN_ACL_UNSAFE (the native client has no ACL argument), so the node is
      // open until this setAcl. Nobody can delete it meanwhile (the root is ours), but someone could
      // write to it or change its ACL: the version check below rewrites such data, and a changed ACL
      // (NOAUTH here) makes us delete the node and create it again.
      try {
        await zk.setAcl(this.path, -1, this.acl);
      } catch (e) {
        if (!isZk(e, C.ZNOAUTH)) throw e;
        await zk.delete(this.path, -1).catch((e2: unknown) => {
          if (!isZk(e2, C.ZNONODE)) throw e2;
        });
        return false;
      }
    }
    let written = created;
    if (!written || this.acl) {
      const stat = await zk.exists(this.path);
      if (!stat || stat.ephemeralOwner !== zk.sessionId) return false;
      if (!written || stat.version !== written.version) {
        // Unknown or foreign content: write what we hold now, versioned.
        const cur = this.writer.snapshot();
        const next = await zk.set(this.path, cur.data, stat.version);
        written = { version: next.version, generation: cur.generation };
      }
    }
    if (!this.active) return true;
    this.writer.attach(written.version, written.generation);
    this.transition('attached');
    this.emit('registered', this.path);
    // Changes that arrived while we were creating.
    this.drive(this.writer.flush());
    return true;
  }

  /** With a digest: the root gets world:READ + digest:ALL, so nobody else can create or delete server nodes. */
  private async protectRoot(zk: ZkClient, acl: ZkAcl[]): Promise<void> {
    const { acl: current } = await zk.getAcl(this.options.root);
    if (sameAcl(current, acl)) return;
    try {
      await zk.setAcl(this.options.root, -1, acl);
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
    if (this.current === 'closed') return;
    const had = this.active;
    this.transition('closed');
    this.ensureBackoff.cancel();
    this.writeBackoff.cancel();
    clearInterval(this.verifyTimer);
    this.verifyTimer = undefined;
    this.options.session.off('session', this.onSession);
    this.options.session.off('reconnected', this.onReconnected);
    this.writer.close();
    if (!had) return; // never opened: no node to delete
    try {
      this.options.session.client;
    } catch {
      return;
    }
    await this.deleteOwnedNode();
    this.emit('unregistered');
  }

  /**
   * Deletes the node if one of our sessions owns it (and `shouldDelete`, checked under the path
   * lock, agrees). For owners that must retry a delete that failed while ZooKeeper was away.
   */
  async deleteOwnedNode(shouldDelete: () => boolean = () => true): Promise<void> {
    const zk = this.options.session.client;
    await this.locks.runExclusive(this.path, async () => {
      if (!shouldDelete()) return;
      const stat = await zk.exists(this.path);
      if (!stat || !this.options.session.ownsSessionId(stat.ephemeralOwner)) return;
      try {
        await zk.delete(this.path, -1);
      } catch (e) {
        if (!isZk(e, C.ZNONODE)) throw e;
      }
    });
  }
}
