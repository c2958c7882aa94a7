import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { writeInTick } from '../../server/transport/batched-connection.js';
import { TLS_HANDSHAKE_TIMEOUT_MS, type TlsServerOptions } from '../../server/transport/tls-options.js';
import { encodeFrame, FrameDecoder } from '../../protocol/frames.js';
import { WIRE_ERRORS } from '../../protocol/messages.js';
import { checkGatewayProof, gatewayNonce, gatewayServerProof, MAX_GATEWAY_NONCE_LENGTH } from './gateway-auth.js';
import { BadGatewayRequestError, parseGatewayRequest, type GatewayRequest, type GatewayResult } from './gateway-protocol.js';

/** Largest gateway frame (a message body plus a little); bigger closes the peer. @default 1 MiB */
export const DEFAULT_GATEWAY_MAX_FRAME_BYTES = 1024 * 1024;
/** A peer that has not authenticated after this long is closed. @default 5000 */
export const GATEWAY_AUTH_TIMEOUT_MS = 5_000;

export const GATEWAY_AUTH_FAILED = 'FULCRUM_GATEWAY_AUTH';

export interface GatewayServerOptions {
  /** Name sent in `hello`. */
  server: () => string;
  /** With a secret, peers must prove it before any request is read. */
  secret?: string;
  /** Answers one authenticated, validated request. */
  handle: (req: GatewayRequest) => Promise<Omit<GatewayResult, 'type' | 'rid'>>;
  /** A request whose handling failed (answered FULCRUM_INTERNAL): the server's error policy. */
  onError?: (e: Error) => void;
  /** Serve TLS with this certificate and key (published as `gatewayTls`). @default plain TCP */
  tls?: TlsServerOptions;
}

/**
 * A server's gateway: routers and peer servers deliver here over persistent connections. Every
 * connection starts with a challenge; until it is answered nothing the peer sends is acted on.
 */
export class GatewayServer {
  readonly server: net.Server;
  private readonly peers = new Set<Socket>();
  /** peers authenticated, refused (authentication), requests answered, badRequests (peer closed), failed (answered FULCRUM_INTERNAL). */
  readonly stats = { peers: 0, refused: 0, requests: 0, badRequests: 0, failed: 0 };

  constructor(private readonly options: GatewayServerOptions) {
    const tlsOptions = options.tls;
    this.server = tlsOptions
      ? tls.createServer({ cert: tlsOptions.cert, key: tlsOptions.key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    if (tlsOptions) this.server.on('tlsClientError', (_e, s: Socket) => s.destroy());
  }

  async listen(host: string, port: number): Promise<{ ip: string; port: number }> {
    this.server.listen({ host, port });
    await once(this.server, 'listening');
    return { ip: host, port: (this.server.address() as net.AddressInfo).port };
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    socket.setNoDelay(true);
    this.peers.add(socket);
    socket.once('close', () => this.peers.delete(socket));
    const nonce = gatewayNonce();
    const decoder = new FrameDecoder(DEFAULT_GATEWAY_MAX_FRAME_BYTES);
    let authed = false;
    /** Refused or closed for a bad request: nothing more it sent is read. */
    let done = false;
    const close = (code: string, message: string) => {
      done = true;
      socket.end(encodeFrame({ type: 'error', code, message }));
      socket.pause(); // read nothing more from it
      setTimeout(() => socket.destroy(), 500).unref();
    };
    const refuse = (message: string) => {
      this.stats.refused++;
      close(GATEWAY_AUTH_FAILED, message);
    };
    // Like a bad client frame: an error, then the peer is closed.
    const badRequest = (message: string) => {
      this.stats.badRequests++;
      close(WIRE_ERRORS.badFrame, `bad gateway request: ${message}`);
    };
    const authTimer = setTimeout(() => refuse('no authentication in time'), GATEWAY_AUTH_TIMEOUT_MS);
    authTimer.unref();
    socket.once('close', () => clearTimeout(authTimer));
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        return badRequest((e as Error).message);
      }
      for (const m of frames) {
        if (done || socket.destroyed || !socket.readable) return;
        if (!authed) {
          const o = m as { type?: unknown; proof?: unknown; nonce?: unknown } | null;
          if (o?.type !== 'auth') return refuse('the first frame must be auth');
          const secret = this.options.secret;
          if (secret !== undefined && !checkGatewayProof(secret, nonce, o.proof)) return refuse('bad proof');
          if (o.nonce !== undefined && (typeof o.nonce !== 'string' || o.nonce.length === 0 || o.nonce.length > MAX_GATEWAY_NONCE_LENGTH)) return refuse('bad nonce');
          authed = true;
          clearTimeout(authTimer);
          this.stats.peers++;
          // The peer's challenge, answered: it checks that this gateway holds the secret too.
          socket.write(encodeFrame(secret !== undefined && typeof o.nonce === 'string' ? { type: 'ready', proof: gatewayServerProof(secret, o.nonce) } : { type: 'ready' }));
          continue;
        }
        let req: GatewayRequest;
        try {
          req = parseGatewayRequest(m);
        } catch (e) {
          if (!(e instanceof BadGatewayRequestError)) throw e;
          return badRequest(e.message);
        }
        this.stats.requests++;
        this.options.handle(req).then(
          (r) => {
            if (!socket.destroyed) writeInTick(socket, encodeFrame({ type: 'result', rid: req.rid, ...r } satisfies GatewayResult));
          },
          (e: unknown) => {
            this.stats.failed++;
            this.options.onError?.(e instanceof Error ? e : new Error(String(e)));
            if (!socket.destroyed) writeInTick(socket, encodeFrame({ type: 'result', rid: req.rid, ok: false, code: 'FULCRUM_INTERNAL' } satisfies GatewayResult));
          },
        );
      }
    });
    socket.write(encodeFrame({ type: 'hello', server: this.options.server(), nonce }));
  }

  async close(): Promise<void> {
    const closed = this.server.listening ? new Promise<void>((r) => this.server.close(() => r())) : Promise.resolve();
    for (const s of this.peers) s.destroy();
    await closed;
  }
}
