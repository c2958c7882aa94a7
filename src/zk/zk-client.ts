import type ZooKeeper from 'zookeeper';
import { ZkError } from '../errors.js';
import { C } from './codes.js';

/** A znode's stat, typed (the addon declares it loosely; its ctime/mtime are Dates, its ephemeralOwner a hex string). */
export interface ZkStat {
  readonly czxid: number;
  /** zxid of the last write; grows across re-creation of the same name, so it orders any two reads. */
  readonly mzxid: number;
  readonly pzxid: number;
  /** Epoch ms. */
  readonly ctime: number;
  /** Epoch ms. */
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  /** Hex session id of the owner of an ephemeral node; '0' for a persistent one. */
  readonly ephemeralOwner: string;
  readonly dataLength: number;
  readonly numChildren: number;
}

export interface ZkNode {
  readonly stat: ZkStat;
  readonly data: Buffer;
}

export interface ZkAcl {
  perms: number;
  scheme: string;
  auth: string;
}

/** The boolean watch notifications of a handle. */
export type ZkWatchEvent = 'child' | 'changed' | 'deleted' | 'created';
export type ZkWatchListeners = Partial<Record<ZkWatchEvent, (path: string) => void>>;

const WATCH_EVENTS: readonly ZkWatchEvent[] = ['child', 'changed', 'deleted', 'created'];

/**
 * The native client's return code of an error it rejected with. Two message formats: async
 * failures start with the code ("-103 bad version"), synchronous ones (bad path, closed handle)
 * end with `result: "ZINVALIDSTATE -9"`. A ZkError answers its own code. The only place that
 * reads error text.
 */
export function zkCodeOf(e: unknown): number | undefined {
  if (e instanceof ZkError) return e.zkCode;
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^(-?\d+) /.exec(msg) ?? /result: "\w+ (-?\d+)"$/.exec(msg);
  return m ? Number(m[1]) : undefined;
}

/** The one translation of a native failure into a ZkError; unparseable failures get ZSYSTEMERROR. */
export function toZkError(op: string, path: string, e: unknown): ZkError {
  if (e instanceof ZkError) return e;
  return new ZkError(op, path, zkCodeOf(e) ?? C.ZSYSTEMERROR, { cause: e, detail: e instanceof Error ? e.message : String(e) });
}

function toStat(raw: unknown): ZkStat {
  const s = (raw ?? {}) as Record<string, unknown>;
  const n = (v: unknown) => Number(v ?? 0);
  return {
    czxid: n(s.czxid),
    mzxid: n(s.mzxid),
    pzxid: n(s.pzxid),
    ctime: n(s.ctime),
    mtime: n(s.mtime),
    version: n(s.version),
    cversion: n(s.cversion),
    aversion: n(s.aversion),
    ephemeralOwner: String(s.ephemeralOwner ?? '0'),
    dataLength: n(s.dataLength),
    numChildren: n(s.numChildren),
  };
}

function toBuffer(data: unknown): Buffer {
  // data_as_buffer is the default; tolerate a string-mode handle anyway.
  return Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : '');
}

/**
 * Typed access to one ZooKeeper handle: every ZooKeeper call of fulcrum goes through this
 * interface, and every failure rejects with ZkError. Watches are boolean ones only. Implemented by
 * NativeZkClient (the addon) and, in unit tests, by an in-memory double.
 */
export interface ZkClient {
  /** Hex id of the handle's session. */
  readonly sessionId: string;
  /** The negotiated session timeout. */
  readonly timeoutMs: number;
  get(path: string, watch?: boolean): Promise<ZkNode>;
  /** The stat, or undefined when the node does not exist. */
  exists(path: string, watch?: boolean): Promise<ZkStat | undefined>;
  /** Versioned write; `version` -1 writes unconditionally. Resolves with the new stat. */
  set(path: string, data: Buffer, version: number): Promise<ZkStat>;
  /** Resolves with the created path (with its suffix for sequential nodes). */
  create(path: string, data: Buffer, flags?: number): Promise<string>;
  /** `version` -1 deletes any version. */
  delete(path: string, version: number): Promise<void>;
  /** Child names, unsorted. */
  children(path: string, watch?: boolean): Promise<string[]>;
  getAcl(path: string): Promise<{ acl: ZkAcl[]; stat: ZkStat }>;
  setAcl(path: string, version: number, acl: ZkAcl[]): Promise<void>;
  /** Brings the server this handle talks to up to date with the leader, so a read after it sees every write acknowledged before. */
  sync(path: string): Promise<void>;
  /** Ends the session. */
  close(): void;
  /** Subscribes to the boolean watch notifications of this handle; returns the unsubscribe function. */
  watch(listeners: ZkWatchListeners): () => void;
}

const clients = new WeakMap<ZooKeeper, NativeZkClient>();

/** ZkClient over one native handle: the only code that calls the addon. */
export class NativeZkClient implements ZkClient {
  private constructor(readonly native: ZooKeeper) {}

  /** The one NativeZkClient of a handle (the same object every time, so identity comparisons work). */
  static of(zk: ZooKeeper): NativeZkClient {
    let c = clients.get(zk);
    if (!c) {
      c = new NativeZkClient(zk);
      clients.set(zk, c);
    }
    return c;
  }

  /** Hex id of the handle's session. */
  get sessionId(): string {
    return String(this.native.client_id);
  }

  /** The negotiated session timeout. */
  get timeoutMs(): number {
    return Number(this.native.timeout);
  }

  private async call<T>(op: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toZkError(op, path, e);
    }
  }

  async get(path: string, watch = false): Promise<ZkNode> {
    const res = await this.call('get', path, () => this.native.get(path, watch));
    return { stat: toStat(res[0]), data: toBuffer(res[1]) };
  }

  /** The stat, or undefined when the node does not exist. */
  async exists(path: string, watch = false): Promise<ZkStat | undefined> {
    try {
      return toStat(await this.call('exists', path, () => this.native.exists(path, watch)));
    } catch (e) {
      if ((e as ZkError).zkCode === C.ZNONODE) return undefined;
      throw e;
    }
  }

  /** Versioned write; `version` -1 writes unconditionally. Resolves with the new stat. */
  async set(path: string, data: Buffer, version: number): Promise<ZkStat> {
    return toStat(await this.call('set', path, () => this.native.set(path, data, version)));
  }

  /** Resolves with the created path (with its suffix for sequential nodes). */
  async create(path: string, data: Buffer, flags: number = C.ZOO_PERSISTENT): Promise<string> {
    return String(await this.call('create', path, () => this.native.create(path, data, flags)));
  }

  /** `version` -1 deletes any version. */
  async delete(path: string, version: number): Promise<void> {
    await this.call('delete', path, () => this.native.delete_(path, version));
  }

  /** Child names, unsorted. */
  async children(path: string, watch = false): Promise<string[]> {
    return this.call('get_children', path, () => this.native.get_children(path, watch));
  }

  async getAcl(path: string): Promise<{ acl: ZkAcl[]; stat: ZkStat }> {
    const res = (await this.call('get_acl', path, () => this.native.get_acl(path))) as unknown;
    const [acl, stat] = Array.isArray(res) ? res : [];
    return { acl: Array.isArray(acl) ? (acl as ZkAcl[]) : [], stat: toStat(stat) };
  }

  async setAcl(path: string, version: number, acl: ZkAcl[]): Promise<void> {
    await this.call('set_acl', path, () => this.native.set_acl(path, version, acl));
  }

  async sync(path: string): Promise<void> {
    await this.call('sync', path, () => this.native.sync(path));
  }

  /** Ends the session (synchronous; may block the loop briefly). */
  close(): void {
    this.native.close();
  }

  /** Subscribes to the boolean watch notifications of this handle; returns the unsubscribe function. */
  watch(listeners: ZkWatchListeners): () => void {
    const bound: [ZkWatchEvent, (h: unknown, path: string) => void][] = [];
    for (const ev of WATCH_EVENTS) {
      const fn = listeners[ev];
      if (!fn) continue;
      const l = (_h: unknown, path: string) => fn(path);
      this.native.on(ev, l);
      bound.push([ev, l]);
    }
    return () => {
      for (const [ev, l] of bound) this.native.off(ev, l);
    };
  }
}
