import { EventEmitter } from 'node:events';
import type ZooKeeper from 'zookeeper';
import { ClosedError } from '../errors.js';
import { connectZk, type ZkConnectOptions } from './connect.js';

export const DEFAULT_RECONNECT_MAX_DELAY_MS = 5_000;

export interface ZkSessionEvents {
  /** A new session is up (first start, or replacement after expiry): recreate ephemerals, re-arm watches. */
  session: [zk: ZooKeeper];
  /** The connection dropped; the session may still be alive. */
  disconnected: [];
  /** The same session reconnected; ephemerals and watches survived. */
  reconnected: [];
  /** Disconnected for a whole session timeout: assume the server dropped our ephemerals. */
  lost: [];
  /** The handle was closed by the server (code -112 expired, -113 auth failed); a new one is being made. */
  expired: [code: number];
}

/**
 * Supervises one ZooKeeper handle. An expired handle is dead for good, so this replaces it
 * and announces the new one with 'session'; consumers re-create what they own there.
 */
export class ZkSession extends EventEmitter<ZkSessionEvents> {
  private handle: ZooKeeper | undefined;
  private stopped = false;
  private suspectTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private starting: Promise<ZooKeeper> | undefined;

  constructor(readonly options: ZkConnectOptions) {
    super();
  }

  /** The current handle; throws when there is none (not started, or being replaced). */
  get zk(): ZooKeeper {
    if (!this.handle) throw new ClosedError('ZooKeeper session');
    return this.handle;
  }

  get isConnected(): boolean {
    return this.handle !== undefined && this.connected;
  }

  /** Hex session id of the current handle. */
  get sessionId(): string | undefined {
    return this.handle ? String(this.handle.client_id) : undefined;
  }

  /** Connects once; the first failure is thrown so callers can report an unreachable ZooKeeper. */
  async start(): Promise<ZooKeeper> {
    if (this.handle) return this.handle;
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

  private async replace(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const zk = await connectZk(this.options);
        if (this.stopped) {
          zk.close();
          return;
        }
        this.attach(zk);
        return;
      } catch {
        const delay = Math.min(250 * 2 ** attempt, DEFAULT_RECONNECT_MAX_DELAY_MS);
        await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      }
    }
  }

  private attach(zk: ZooKeeper): void {
    this.handle = zk;
    this.connected = true;
    zk.on('connecting', () => {
      if (this.handle !== zk) return;
      this.connected = false;
      this.emit('disconnected');
      clearTimeout(this.suspectTimer);
      this.suspectTimer = setTimeout(() => this.emit('lost'), zk.timeout);
    });
    zk.on('connect', () => {
      if (this.handle !== zk) return;
      clearTimeout(this.suspectTimer);
      if (!this.connected) {
        this.connected = true;
        this.emit('reconnected');
      }
    });
    zk.once('close', (_z: unknown, code: number) => {
      if (this.handle !== zk) return;
      clearTimeout(this.suspectTimer);
      this.handle = undefined;
      this.connected = false;
      if (this.stopped || code === 0) return;
      this.emit('expired', code);
      void this.replace();
    });
    this.emit('session', zk);
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.suspectTimer);
    const zk = this.handle;
    this.handle = undefined;
    this.connected = false;
    zk?.close();
  }
}
