import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { writeInTick } from '../../server/transport/batched-connection.js';
import type { TlsClientOptions } from '../../server/transport/tls-options.js';
import { backoffDelay } from '../../backoff.js';
import { GatewayUnavailableError } from '../../errors.js';
import { encodeFrame, FrameDecoder } from '../../protocol/frames.js';
import { checkGatewayServerProof, gatewayNonce, gatewayProof } from './gateway-auth.js';
import type { GatewayRequestBody, GatewayResult } from './gateway-protocol.js';
import { DEFAULT_GATEWAY_MAX_FRAME_BYTES } from './gateway-server.js';

/** Connect + challenge must finish within this. @default 2000 */
export const DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS = 2_000;
/**
 * After a failed connect, requests to that server's address fail at once for this long instead of
 * reconnecting; doubling (with jitter) per further failure up to GATEWAY_RETRY_MAX_MS.
 */
export const GATEWAY_RETRY_AFTER_MS = 50;
export const GATEWAY_RETRY_MAX_MS = 1_000;

interface Pending {
  resolve: (r: GatewayResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One persistent, authenticated connection to one server's gateway. */
class GatewayConnection {
  private socket: Socket | undefined;
  readonly ready: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private rid = 0;
  private dead: Error | undefined;

  constructor(
    readonly server: string,
    readonly address: string,
    ip: string,
    port: number,
    secret: string | undefined,
    connectTimeoutMs: number,
    private readonly onGone: (c: GatewayConnection) => void,
    /** Set when the gateway speaks TLS: what to trust. */
    tlsOptions: TlsClientOptions | undefined,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      const s = tlsOptions ? tls.connect({ host: ip, port, ...tlsOptions }) : net.connect({ host: ip, port });
      // Our challenge: with a secret, the gateway must prove it too before we send it anything.
      const ourNonce = gatewayNonce();
      this.socket = s;
      s.setNoDelay(true);
      const decoder = new FrameDecoder(DEFAULT_GATEWAY_MAX_FRAME_BYTES);
      let isReady = false;
      const timer = setTimeout(() => this.fail(new GatewayUnavailableError(server, `no answer from ${address} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const fail0 = reject;
      this.failFirst = (e) => {
        clearTimeout(timer);
        fail0(e);
      };
      s.on('error', (e) => this.fail(new GatewayUnavailableError(server, `${address}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e })));
      s.on('close', () => this.fail(new GatewayUnavailableError(server, `${address} closed the connection`)));
      s.on('data', (chunk: Buffer) => {
        let frames: unknown[];
        try {
          frames = decoder.push(chunk);
        } catch (e) {
          this.fail(new GatewayUnavailableError(server, 'undecodable answer', { cause: e }));
          return;
        }
        for (const m of frames) {
          const o = m as { type?: unknown; nonce?: unknown; rid?: unknown; code?: unknown; message?: unknown };
          if (o?.type === 'hello' && typeof o.nonce === 'string') {
            s.write(encodeFrame(secret === undefined ? { type: 'auth' } : { type: 'auth', proof: gatewayProof(secret, o.nonce), nonce: ourNonce }));
          } else if (o?.type === 'ready') {
            if (secret !== undefined && !checkGatewayServerProof(secret, ourNonce, (o as { proof?: unknown }).proof)) {
              this.fail(new GatewayUnavailableError(server, `${address} did not prove the cluster secret`));
              return;
            }
            isReady = true;
            clearTimeout(timer);
            resolve();
          } else if (o?.type === 'error') {
            this.fail(new GatewayUnavailableError(server, `refused: ${String(o.code)} ${String(o.message)}`));
          } else if (o?.type === 'result' && isReady && typeof o.rid === 'number') {
            const p = this.pending.get(o.rid);
            if (!p) continue;
            this.pending.delete(o.rid);
            clearTimeout(p.timer);
            p.resolve(m as GatewayResult);
          }
        }
      });
    });
    this.ready.catch(() => {});
  }

  private failFirst: (e: Error) => void = () => {};

  get isDead(): boolean {
    return this.dead !== undefined;
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    this.failFirst(e);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    this.socket?.destroy();
    this.onGone(this);
  }

  async request(body: GatewayRequestBody, timeoutMs: number): Promise<GatewayResult> {
    await this.ready;
    if (this.dead) throw this.dead;
    const rid = ++this.rid;
    return new Promise<GatewayResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new GatewayUnavailableError(this.server, `no result within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
      writeInTick(this.socket!, encodeFrame({ ...body, rid }));
    });
  }

  close(): void {
    this.fail(new GatewayUnavailableError(this.server, 'pool closed'));
  }
}

export interface GatewayPoolOptions {
  secret?: string;
  /** What to trust when a gateway speaks TLS (its node says `gatewayTls`). @default Node's CA roots */
  tls?: TlsClientOptions;
  /** @default DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS (2000) */
  connectTimeoutMs?: number;
}

/** Persistent gateway connections, one per server, opened on first use and replaced when they break. */
export class GatewayPool {
  private readonly conns = new Map<string, GatewayConnection>();
  /** The last failed connect per server (dropped on success and when the server leaves). */
  private readonly failedAt = new Map<string, { address: string; at: number; waitMs: number; attempts: number; error: Error }>();
  private closed = false;

  constructor(private readonly options: GatewayPoolOptions = {}) {}

  /** Sends one request to `server`'s gateway at ip:port (over TLS when `tls`); rejects with GatewayUnavailableError when it cannot. */
  request(server: string, ip: string, port: number, body: GatewayRequestBody, timeoutMs: number, tls = false): Promise<GatewayResult> {
    if (this.closed) return Promise.reject(new GatewayUnavailableError(server, 'pool closed'));
    const address = `${tls ? 'tls:' : ''}${ip}:${port}`;
    const failed = this.failedAt.get(server);
    if (failed && failed.address === address && performance.now() - failed.at < failed.waitMs) return Promise.reject(failed.error);
    let c = this.conns.get(server);
    if (c && (c.isDead || c.address !== address)) {
      c.close();
      c = undefined;
    }
    if (!c) {
      const conn = new GatewayConnection(server, address, ip, port, this.options.secret, this.options.connectTimeoutMs ?? DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS, (gone) => {
        if (this.conns.get(server) === gone) this.conns.delete(server);
      }, tls ? (this.options.tls ?? {}) : undefined);
      c = conn;
      this.conns.set(server, conn);
      conn.ready.then(
        () => this.failedAt.delete(server),
        (error: Error) => {
          const prev = this.failedAt.get(server);
          const attempts = prev && prev.address === address ? prev.attempts + 1 : 1;
          this.failedAt.set(server, { address, at: performance.now(), waitMs: backoffDelay(attempts - 1, GATEWAY_RETRY_AFTER_MS, GATEWAY_RETRY_MAX_MS), attempts, error });
        },
      );
    }
    return c.request(body, timeoutMs);
  }

  /** Drops the connection to a server that left. */
  forget(server: string): void {
    this.failedAt.delete(server);
    this.conns.get(server)?.close();
  }

  get size(): number {
    return this.conns.size;
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.conns.values()]) c.close();
    this.conns.clear();
  }
}
