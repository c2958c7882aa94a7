// An in-memory double of the typed ZooKeeper wrapper (ZkClient) and of a supervised session, for
// unit tests only: a tree of nodes with real stats (versions, zxids, ephemeral owners), boolean
// watches with ZooKeeper's one-shot semantics, sessions that disconnect, reconnect and expire, and
// injectable failures. Integration tests use a real ZooKeeper.
import { EventEmitter } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import { ClosedError, ZkError } from '../../src/errors.js';
import { C } from '../../src/zk/codes.js';
import type { SupervisedSession, SupervisedSessionEvent } from '../../src/zk/session.js';
import type { ZkAcl, ZkClient, ZkNode, ZkStat, ZkWatchEvent, ZkWatchListeners } from '../../src/zk/zk-client.js';

export type ZkOp = 'get' | 'exists' | 'set' | 'create' | 'delete' | 'get_children' | 'get_acl' | 'set_acl' | 'sync';

/** A failure to answer matching calls with. */
export interface InjectedFailure {
  op?: ZkOp | readonly ZkOp[];
  path?: string | RegExp;
  code: number;
  /** How many matching calls fail. @default 1 (Infinity: until clearFailures) */
  times?: number;
  /** Apply the call, then fail (a write whose answer was lost). @default false */
  applied?: boolean;
}

interface MemNode {
  data: Buffer;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: string;
  children: Set<string>;
  acl: ZkAcl[];
}

const OPEN_ACL: ZkAcl[] = [{ perms: C.ZOO_PERM_ALL, scheme: 'world', auth: 'anyone' }];
/** ZooKeeper's default jute.maxbuffer: a request carrying more data is refused by dropping the connection. */
export const JUTE_MAX_BUFFER = 0xfffff;

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

function matches(f: InjectedFailure, op: ZkOp, path: string): boolean {
  if (f.op !== undefined && (typeof f.op === 'string' ? f.op !== op : !f.op.includes(op))) return false;
  if (f.path === undefined) return true;
  return typeof f.path === 'string' ? f.path === path : f.path.test(path);
}

/** The "ensemble": one consistent tree every handle reads and writes. */
export class MemoryZk {
  private zxid = 0;
  private nextSessionId = 0x1000;
  readonly nodes = new Map<string, MemNode>([['/', this.makeNode(Buffer.alloc(0), '0')]]);
  private readonly handles = new Set<MemoryHandle>();
  private failures: (InjectedFailure & { left: number })[] = [];
  private gates: { op: ZkOp; path: string | RegExp; gate: Promise<void>; arrived: () => void }[] = [];
  /** Every call that was applied to the tree, in order. */
  readonly calls: { op: ZkOp; path: string; session: string; at: number }[] = [];
  /** Every call made, applied or failed (with its code), in order. */
  readonly attempts: { op: ZkOp; path: string; at: number; code?: number }[] = [];
  /** Told about every applied create and set (e.g. to check an invariant after each write). */
  onWrite: ((op: 'create' | 'set', path: string, data: Buffer) => void) | undefined;
  /** The largest data any create or set carried. */
  maxWrittenBytes = 0;

  private makeNode(data: Buffer, owner: string): MemNode {
    const z = this.zxid;
    return { data, czxid: z, mzxid: z, pzxid: z, ctime: Date.now(), mtime: Date.now(), version: 0, cversion: 0, aversion: 0, ephemeralOwner: owner, children: new Set(), acl: OPEN_ACL };
  }

  /** Injects a failure; the first matching entry answers a call. */
  fail(f: InjectedFailure): void {
    this.failures.push({ ...f, left: f.times ?? 1 });
  }

  clearFailures(): void {
    this.failures = [];
  }

  /**
   * Holds matching calls until `release()`; `reached` resolves when the first one arrives (a
   * barrier for tests that show something did not happen yet).
   */
  hold(op: ZkOp, path: string | RegExp): { release: () => void; reached: Promise<void> } {
    let release!: () => void;
    let arrived!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (arrived = r));
    const entry = { op, path, gate, arrived };
    this.gates.push(entry);
    return {
      reached,
      release: () => {
        this.gates = this.gates.filter((g) => g !== entry);
        release();
      },
    };
  }

  /** Successful calls of `op` (optionally under a path prefix or matching a pattern). */
  count(op: ZkOp, path?: string | RegExp): number {
    return this.calls.filter((c) => c.op === op && (path === undefined || (typeof path === 'string' ? c.path.startsWith(path) : path.test(c.path)))).length;
  }

  newSessionId(): string {
    return (this.nextSessionId++).toString(16);
  }

  /** A supervised session on this tree. */
  session(opts: { timeoutMs?: number } = {}): MemorySession {
    return new MemorySession(this, opts.timeoutMs ?? 4_000);
  }

  /** A bare handle on a new session (for set-up and for writes "from somebody else"). */
  client(): MemoryHandle {
    return this.open(this.newSessionId(), 4_000);
  }

  open(sessionId: string, timeoutMs: number): MemoryHandle {
    const h = new MemoryHandle(this, sessionId, timeoutMs);
    this.handles.add(h);
    return h;
  }

  /** The server side of an expiry: the session's ephemerals go, its handle is dead. */
  expire(sessionId: string): void {
    for (const h of this.handles) if (h.sessionId === sessionId) h.kill();
    for (const [path, n] of [...this.nodes]) if (n.ephemeralOwner === sessionId) this.remove(path);
  }

  get(path: string): MemNode | undefined {
    return this.nodes.get(path);
  }

  // ---- the tree, called by handles ------------------------------------------------------------

  async enter(h: MemoryHandle, op: ZkOp, path: string): Promise<void> {
    await tick();
    for (const g of [...this.gates]) {
      if (g.op === op && (typeof g.path === 'string' ? g.path === path : g.path.test(path))) {
        g.arrived();
        await g.gate;
      }
    }
    try {
      h.check(op, path);
    } catch (e) {
      this.attempts.push({ op, path, at: Date.now(), code: (e as ZkError).zkCode });
      throw e;
    }
  }

  /** An injected failure for this call, if any: thrown before or after applying it. */
  injected(op: ZkOp, path: string): { code: number; applied: boolean } | undefined {
    const f = this.failures.find((x) => x.left > 0 && matches(x, op, path));
    this.attempts.push({ op, path, at: Date.now(), ...(f ? { code: f.code } : {}) });
    if (!f) return undefined;
    f.left--;
    this.failures = this.failures.filter((x) => x.left > 0);
    return { code: f.code, applied: f.applied === true };
  }

  record(op: ZkOp, path: string, h: MemoryHandle): void {
    this.calls.push({ op, path, session: h.sessionId, at: Date.now() });
  }

  private written(op: 'create' | 'set', path: string, data: Buffer): void {
    this.maxWrittenBytes = Math.max(this.maxWrittenBytes, data.length);
    this.onWrite?.(op, path, data);
  }

  stat(n: MemNode): ZkStat {
    return {
      czxid: n.czxid,
      mzxid: n.mzxid,
      pzxid: n.pzxid,
      ctime: n.ctime,
      mtime: n.mtime,
      version: n.version,
      cversion: n.cversion,
      aversion: n.aversion,
      ephemeralOwner: n.ephemeralOwner,
      dataLength: n.data.length,
      numChildren: n.children.size,
    };
  }

  doCreate(path: string, data: Buffer, flags: number, owner: string): string {
    if (data.length > JUTE_MAX_BUFFER) throw new ZkError('create', path, C.ZCONNECTIONLOSS);
    const parent = this.nodes.get(parentOf(path));
    if (!parent) throw new ZkError('create', path, C.ZNONODE);
    if (parent.ephemeralOwner !== '0') throw new ZkError('create', path, C.ZNOCHILDRENFOREPHEMERALS);
    let name = path;
    if (flags & C.ZOO_SEQUENCE) name = `${path}${String(parent.cversion).padStart(10, '0')}`;
    if (this.nodes.has(name)) throw new ZkError('create', path, C.ZNODEEXISTS);
    this.zxid++;
    this.nodes.set(name, this.makeNode(Buffer.from(data), flags & C.ZOO_EPHEMERAL ? owner : '0'));
    parent.children.add(name.slice(name.lastIndexOf('/') + 1));
    parent.cversion++;
    parent.pzxid = this.zxid;
    this.written('create', name, data);
    this.fire(name, 'created');
    this.fire(parentOf(name), 'child');
    return name;
  }

  doSet(path: string, data: Buffer, version: number): ZkStat {
    if (data.length > JUTE_MAX_BUFFER) throw new ZkError('set', path, C.ZCONNECTIONLOSS);
    const n = this.nodes.get(path);
    if (!n) throw new ZkError('set', path, C.ZNONODE);
    if (version !== -1 && version !== n.version) throw new ZkError('set', path, C.ZBADVERSION);
    this.zxid++;
    n.data = Buffer.from(data);
    n.version++;
    n.mzxid = this.zxid;
    n.mtime = Date.now();
    this.written('set', path, data);
    this.fire(path, 'changed');
    return this.stat(n);
  }

  doDelete(path: string, version: number): void {
    const n = this.nodes.get(path);
    if (!n) throw new ZkError('delete', path, C.ZNONODE);
    if (version !== -1 && version !== n.version) throw new ZkError('delete', path, C.ZBADVERSION);
    if (n.children.size > 0) throw new ZkError('delete', path, C.ZNOTEMPTY);
    this.remove(path);
  }

  private remove(path: string): void {
    this.zxid++;
    this.nodes.delete(path);
    const parent = this.nodes.get(parentOf(path));
    if (parent) {
      parent.children.delete(path.slice(path.lastIndexOf('/') + 1));
      parent.cversion++;
      parent.pzxid = this.zxid;
    }
    this.fire(path, 'deleted');
    this.fire(parentOf(path), 'child');
  }

  /** One-shot boolean watches: each handle that armed one for `path` hears the event once. */
  private fire(path: string, event: ZkWatchEvent): void {
    for (const h of this.handles) h.trigger(path, event);
  }
}

/** One handle (one session id) on the tree: implements ZkClient. */
export class MemoryHandle implements ZkClient {
  private readonly emitter = new EventEmitter();
  private readonly dataWatches = new Set<string>();
  private readonly childWatches = new Set<string>();
  private readonly existWatches = new Set<string>();
  private connected = true;
  private dead = false;
  private queued: [ZkWatchEvent, string][] = [];
  private heldWatches = false;

  constructor(
    private readonly tree: MemoryZk,
    readonly sessionId: string,
    readonly timeoutMs: number,
  ) {
    this.emitter.setMaxListeners(0);
  }

  get isDead(): boolean {
    return this.dead;
  }

  get isConnected(): boolean {
    return this.connected && !this.dead;
  }

  /** Listeners on one watch event kind (the native handle's listenerCount). */
  listenerCount(event: ZkWatchEvent): number {
    return this.emitter.listenerCount(event);
  }

  check(op: ZkOp, path: string): void {
    if (this.dead) throw new ZkError(op, path, C.ZINVALIDSTATE);
    if (!this.connected) throw new ZkError(op, path, C.ZCONNECTIONLOSS);
  }

  kill(): void {
    this.dead = true;
    this.dataWatches.clear();
    this.childWatches.clear();
    this.existWatches.clear();
    this.queued = [];
  }

  setConnected(up: boolean): void {
    this.connected = up;
    if (up) this.deliver();
  }

  /** Queues watch notifications instead of delivering them (a slow watcher), until releaseWatches(). */
  holdWatches(): void {
    this.heldWatches = true;
  }

  releaseWatches(): void {
    this.heldWatches = false;
    this.deliver();
  }

  trigger(path: string, event: ZkWatchEvent): void {
    if (this.dead) return;
    let fired = false;
    if (event === 'child') fired = this.childWatches.delete(path);
    else if (event === 'created') fired = this.existWatches.delete(path);
    else {
      // changed / deleted: data and exists watches; a deleted node also ends its child watch.
      fired = this.dataWatches.delete(path);
      fired = this.existWatches.delete(path) || fired;
      if (event === 'deleted') fired = this.childWatches.delete(path) || fired;
    }
    if (!fired) return;
    this.queued.push([event, path]);
    this.deliver();
  }

  private deliver(): void {
    if (!this.connected || this.heldWatches || this.dead) return;
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    setImmediate(() => {
      for (const [ev, p] of batch) if (!this.dead) this.emitter.emit(ev, p);
    });
  }

  private async run<T>(op: ZkOp, path: string, fn: () => T): Promise<T> {
    await this.tree.enter(this, op, path);
    const inj = this.tree.injected(op, path);
    if (inj && !inj.applied) throw new ZkError(op, path, inj.code);
    const out = fn();
    this.tree.record(op, path, this);
    if (inj) throw new ZkError(op, path, inj.code);
    return out;
  }

  get(path: string, watch = false): Promise<ZkNode> {
    return this.run('get', path, () => {
      const n = this.tree.get(path);
      if (!n) throw new ZkError('get', path, C.ZNONODE);
      if (watch) this.dataWatches.add(path);
      return { stat: this.tree.stat(n), data: Buffer.from(n.data) };
    });
  }

  async exists(path: string, watch = false): Promise<ZkStat | undefined> {
    return this.run('exists', path, () => {
      const n = this.tree.get(path);
      if (watch) (n ? this.dataWatches : this.existWatches).add(path);
      return n ? this.tree.stat(n) : undefined;
    });
  }

  set(path: string, data: Buffer, version: number): Promise<ZkStat> {
    return this.run('set', path, () => this.tree.doSet(path, data, version));
  }

  create(path: string, data: Buffer, flags: number = C.ZOO_PERSISTENT): Promise<string> {
    return this.run('create', path, () => this.tree.doCreate(path, data, flags, this.sessionId));
  }

  delete(path: string, version: number): Promise<void> {
    return this.run('delete', path, () => this.tree.doDelete(path, version));
  }

  children(path: string, watch = false): Promise<string[]> {
    return this.run('get_children', path, () => {
      const n = this.tree.get(path);
      if (!n) throw new ZkError('get_children', path, C.ZNONODE);
      if (watch) this.childWatches.add(path);
      return [...n.children];
    });
  }

  getAcl(path: string): Promise<{ acl: ZkAcl[]; stat: ZkStat }> {
    return this.run('get_acl', path, () => {
      const n = this.tree.get(path);
      if (!n) throw new ZkError('get_acl', path, C.ZNONODE);
      return { acl: n.acl.map((a) => ({ ...a })), stat: this.tree.stat(n) };
    });
  }

  setAcl(path: string, version: number, acl: ZkAcl[]): Promise<void> {
    return this.run('set_acl', path, () => {
      const n = this.tree.get(path);
      if (!n) throw new ZkError('set_acl', path, C.ZNONODE);
      if (version !== -1 && version !== n.aversion) throw new ZkError('set_acl', path, C.ZBADVERSION);
      n.acl = acl.map((a) => ({ ...a }));
      n.aversion++;
    });
  }

  sync(path: string): Promise<void> {
    return this.run('sync', path, () => undefined);
  }

  close(): void {
    this.tree.expire(this.sessionId);
  }

  watch(listeners: ZkWatchListeners): () => void {
    const bound: [ZkWatchEvent, (p: string) => void][] = [];
    for (const [ev, fn] of Object.entries(listeners) as [ZkWatchEvent, (p: string) => void][]) {
      const l = (p: string) => fn(p);
      this.emitter.on(ev, l);
      bound.push([ev, l]);
    }
    return () => {
      for (const [ev, l] of bound) this.emitter.off(ev, l);
    };
  }
}

/**
 * A supervised session over MemoryZk, with ZkSession's events: disconnect(), reconnect() and
 * expire() drive it the way the native session reports a real ZooKeeper.
 */
export class MemorySession extends EventEmitter<Record<SupervisedSessionEvent, []>> implements SupervisedSession {
  private handle: MemoryHandle | undefined;
  private readonly pastIds = new Set<string>();
  private closed = false;
  private renewing: Promise<MemoryHandle> | undefined;
  private renewGate: Promise<void> | undefined;

  constructor(
    readonly tree: MemoryZk,
    private readonly timeoutMs: number,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get client(): MemoryHandle {
    if (!this.handle || this.closed) throw new ClosedError('ZooKeeper session');
    return this.handle;
  }

  get isConnected(): boolean {
    return this.handle?.isConnected === true;
  }

  get sessionId(): string | undefined {
    return this.handle?.sessionId;
  }

  ownsSessionId(id: string): boolean {
    return this.pastIds.has(id);
  }

  async startClient(): Promise<MemoryHandle> {
    if (this.closed) throw new ClosedError('ZooKeeper session');
    if (this.handle) return this.handle;
    if (this.renewing) return this.renewing;
    this.attach();
    return this.handle!;
  }

  private attach(): void {
    const h = this.tree.open(this.tree.newSessionId(), this.timeoutMs);
    this.handle = h;
    this.pastIds.add(h.sessionId);
    this.emit('session');
  }

  /** The connection drops; the session lives on (calls fail with CONNECTIONLOSS). */
  disconnect(): void {
    this.handle?.setConnected(false);
    this.emit('disconnected');
  }

  /** The same session is back: queued watch notifications arrive. */
  reconnect(): void {
    this.handle?.setConnected(true);
    this.emit('reconnected');
  }

  /**
   * The session expires: its ephemerals go, 'expired' is emitted and a new handle follows (at once,
   * or when the function returned by holdRenewal() is called).
   */
  expire(): Promise<void> {
    const old = this.handle;
    if (!old) return Promise.resolve();
    this.tree.expire(old.sessionId);
    this.handle = undefined;
    this.emit('expired');
    const renewed = (async () => {
      await tick();
      if (this.renewGate) await this.renewGate;
      if (this.closed) throw new ClosedError('ZooKeeper session');
      this.attach();
      return this.handle!;
    })();
    this.renewing = renewed;
    renewed.catch(() => {});
    return renewed.then(
      () => {
        this.renewing = undefined;
      },
      () => {},
    );
  }

  /** Delays the replacement handle of the next expiries until the returned function is called. */
  holdRenewal(): () => void {
    let release!: () => void;
    this.renewGate = new Promise<void>((r) => (release = r));
    return () => {
      this.renewGate = undefined;
      release();
    };
  }

  close(): void {
    this.closed = true;
    const h = this.handle;
    this.handle = undefined;
    h?.close();
  }
}
