import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type ZooKeeper from 'zookeeper';
import { C } from './codes.js';
import { ClosedError, ZkConnectTimeoutError } from '../errors.js';
import { connectZk, DEFAULT_CONNECT_TIMEOUT_MS, type ZkConnectOptions } from './connect.js';
import { NativeZkClient, type ZkClient } from './zk-client.js';
import { reportError } from '../log/report-error.js';
import { backoffDelay } from '../backoff.js';

/** First wait before a failed replacement of a dead handle is tried again; doubles up to DEFAULT_RECONNECT_MAX_DELAY_MS. */
export const RECONNECT_BASE_DELAY_MS = 250;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 5_000;
/** Period of the pause detector: a gap between two ticks longer than the session timeout means we were frozen. */
export const PAUSE_CHECK_INTERVAL_MS = 200;

export interface ZkSessionEvents {
  /** A new session is up (first start, or replacement after expiry): recreate ephemerals, re-arm watches. */
  session: [zk: ZooKeeper];
  /** The connection dropped; the session may still be alive. */
  disconnected: [];
  /** The same session reconnected; ephemerals and watches survived. */
  reconnected: [];
  /** Disconnected for a whole session timeout: assume the server dropped our ephemerals. */
  lost: [];
  /**
   * The handle is dead and a new one is being made: closed by the server (-112 expired, -113 auth
   * failed), or given up by us (-112) after the process was frozen for longer than the session timeout.
   */
  expired: [code: number];
  /** A replacement of a dead handle failed to connect (it keeps trying); logged instead when nobody listens. */
  error: [Error];
}

/** The session events the owners of nodes and watches act on. */
export type SupervisedSessionEvent = 'session' | 'reconnected' | 'disconnected' | 'lost' | 'expired';

/**
 * What the components that own or watch nodes need of a supervised session: ZkSession, or an
 * in-memory double in unit tests. `client` throws ClosedError while there is no handle.
 */
export interface SupervisedSession {
  readonly client: ZkClient;
  readonly isConnected: boolean;
  readonly sessionId: string | undefined;
  startClient(): Promise<ZkClient>;
  /** True when `id` (an ephemeralOwner, hex) is the current or an earlier session of this object. */
  ownsSessionId(id: string): boolean;
  on(event: SupervisedSessionEvent, listener: () => void): unknown;
  off(event: SupervisedSessionEvent, listener: () => void): unknown;
}

/** The current handle of a session, starting the session (or waiting for its replacement) when it has none. */
export async function sessionClient(session: SupervisedSession): Promise<ZkClient> {
  try {
    return session.client;
  } catch {
    return session.startClient();
  }
}

/**
 * Supervises one ZooKeeper handle. An expired handle is dead for good, so this replaces it
 * and announces the new one with 'session'; consumers re-create what they own there.
 */
export class ZkSession extends EventEmitter<ZkSessionEvents> implements SupervisedSession {
  private handle: ZooKeeper | undefined;
  private stopped = false;
  private suspectTimer: NodeJS.Timeout | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  private attachedAt = 0;
  /** Handles given up after a freeze; closed if they turn out to be alive. */
  private readonly abandoned = new Set<ZooKeeper>();
  private connected = false;
  private starting: Promise<ZooKeeper> | undefined;
  /** The replacement of an expired handle while it runs; start() waits for it instead of opening a second handle. */
  private replacing: Promise<ZooKeeper | undefined> | undefined;
  /** Every session id this object ever held (hex), so owners can recognise their own old ephemerals. */
  private readonly pastIds = new Set<string>();

  constructor(readonly options: ZkConnectOptions) {
    super();
    // Every owned node (a server's node, each route shard) and every watched folder follows the session.
    this.setMaxListeners(0);
  }

  /** The current handle; throws when there is none (not started, or being replaced). */
  get zk(): ZooKeeper {
    if (!this.handle) throw new ClosedError('ZooKeeper session');
    return this.handle;
  }

  /** The typed client of the current handle; throws ClosedError when there is none. */
  get client(): NativeZkClient {
    return NativeZkClient.of(this.zk);
  }

  /** start(), answering the typed client. */
  async startClient(): Promise<NativeZkClient> {
    return NativeZkClient.of(await this.start());
  }

  get isConnected(): boolean {
    return this.handle !== undefined && this.connected;
  }

  /** Hex session id of the current handle. */
  get sessionId(): string | undefined {
    return this.handle ? String(this.handle.client_id) : undefined;
  }

  /** Handles given up after a freeze whose end (close or reconnect) has not been seen yet. */
  get abandonedHandles(): number {
    return this.abandoned.size;
  }

  /** True when `id` (an ephemeralOwner, hex) is the current or an earlier session of this object. */
  ownsSessionId(id: string): boolean {
    return this.pastIds.has(id);
  }

  /**
   * Connects once; the first failure is thrown so callers can report an unreachable ZooKeeper.
   * While an expired handle is being replaced it waits for that replacement (at most the connect
   * timeout) instead of opening a second handle.
   */
  async start(): Promise<ZooKeeper> {
    if (this.stopped) throw new ClosedError('ZooKeeper session');
    if (this.handle) return this.handle;
    if (this.replacing) return this.awaitReplacement(this.replacing);
    this.starting ??= connectZk(this.options).then((zk) => {
      if (this.stopped) {
        zk.close();
        throw new ClosedError('ZooKeeper session');
      }
      this.attach(zk);
      return zk;
    });
    try {
      return await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private async awaitReplacement(replacing: Promise<ZooKeeper | undefined>): Promise<ZooKeeper> {
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    try {
      const zk = await Promise.race([replacing, timeout]);
      if (zk === 'timeout') throw new ZkConnectTimeoutError(this.options.connect, timeoutMs);
      if (!zk || this.stopped) throw new ClosedError('ZooKeeper session');
      return zk;
    } finally {
      clearTimeout(timer);
    }
  }

  private async replace(): Promise<ZooKeeper | undefined> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const zk = await connectZk(this.options);
        if (this.stopped) {
          zk.close();
          return undefined;
        }
        this.attach(zk);
        return zk;
      } catch (e) {
        if (this.stopped) return undefined;
        reportError(this, e instanceof Error ? e : new Error(String(e)), this.options.logger, { component: 'ZkSession', connect: this.options.connect, attempt });
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, RECONNECT_BASE_DELAY_MS, DEFAULT_RECONNECT_MAX_DELAY_MS)));
      }
    }
    return undefined;
  }

  private attach(zk: ZooKeeper): void {
    this.handle = zk;
    this.connected = true;
    this.attachedAt = performance.now();
    this.pastIds.add(String(zk.client_id));
    this.watchPauses();
    zk.on('connecting', () => {
      if (this.handle !== zk) return;
      this.connected = false;
      this.emit('disconnected');
      clearTimeout(this.suspectTimer);
      this.suspectTimer = setTimeout(() => this.emit('lost'), zk.timeout);
    });
    zk.on('connect', () => {
      if (this.abandoned.delete(zk)) {
        zk.close(); // given up after a freeze, yet the session lived: end it, its successor took over
        return;
      }
      if (this.handle !== zk) return;
      clearTimeout(this.suspectTimer);
      if (!this.connected) {
        this.connected = true;
        this.emit('reconnected');
      }
    });
    zk.once('close', (_z: unknown, code: number) => {
      this.abandoned.delete(zk);
      if (this.handle !== zk) return;
      this.detachHandle();
      if (this.stopped || code === 0) return;
      this.replaceDead(code);
    });
    this.emit('session', zk);
  }

  private detachHandle(): void {
    clearTimeout(this.suspectTimer);
    this.handle = undefined;
    this.connected = false;
  }

  private replaceDead(code: number): void {
    // Set before 'expired' is emitted, so a start() from a listener already waits for it.
    const replacing = this.replace();
    this.replacing = replacing;
    void replacing.finally(() => {
      if (this.replacing === replacing) this.replacing = undefined;
    });
    this.emit('expired', code);
  }

  /**
   * After SIGSTOP/SIGCONT (or a loop blocked) for longer than the session timeout the server has
   * expired us, but the handle learns it only at its next reconnect attempt, which the addon times
   * by the old ping interval (up to a third of the timeout later). Replace it at once instead.
   */
  private watchPauses(): void {
    if (this.pauseTimer) return;
    let last = performance.now();
    this.pauseTimer = setInterval(() => {
      const now = performance.now();
      const gap = now - last;
      const before = last;
      last = now;
      const zk = this.handle;
      if (!zk || this.stopped || this.attachedAt > before) return;
      const timeout = Number(zk.timeout) || this.options.sessionTimeoutMs || 0;
      if (timeout > 0 && gap > timeout) {
        this.abandoned.add(zk);
        this.detachHandle();
        this.replaceDead(C.ZSESSIONEXPIRED);
      }
    }, PAUSE_CHECK_INTERVAL_MS);
    this.pauseTimer.unref();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.suspectTimer);
    clearInterval(this.pauseTimer);
    this.pauseTimer = undefined;
    for (const old of this.abandoned) old.close();
    this.abandoned.clear();
    const zk = this.handle;
    this.handle = undefined;
    this.connected = false;
    zk?.close();
  }
}
