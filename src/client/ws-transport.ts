import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { ProtocolError } from '../errors.js';
import { decodeBody, DEFAULT_MAX_FRAME_BYTES, encodeBody } from '../protocol/frames.js';
import type { TlsClientOptions } from '../server/transport/tls-options.js';
import type { FrameReceiver, Transport } from './transport.js';

export interface WsDialOptions {
  /** The TCP connect, TLS handshake and upgrade must finish within this. */
  timeoutMs: number;
  /** With a `wss:` URL: what to trust. */
  tls?: TlsClientOptions;
}

/** A server's WebSocket URL: `ws://ip:port/ws`, or `wss://…` on a TLS port (IPv6 in brackets). */
export function wsUrl(server: { ip: string; port: number; tls?: boolean }): string {
  const host = server.ip.includes(':') ? `[${server.ip}]` : server.ip;
  return `${server.tls ? 'wss' : 'ws'}://${host}:${server.port}/ws`;
}

/** fulcrum frames over a WebSocket: one binary message per frame, no length prefix (the wire protocol of the README). */
export class WsTransport implements Transport {
  readonly peer: string;
  readonly closed: Promise<Error | undefined>;
  private receiver: FrameReceiver | undefined;
  private readonly waiting: unknown[] = [];
  private broken: Error | undefined;

  private constructor(
    private readonly ws: WebSocket,
    readonly socket: Socket,
    url: string,
  ) {
    this.peer = url;
    ws.on('error', (e) => (this.broken ??= e));
    this.closed = new Promise((resolve) => ws.once('close', () => resolve(this.broken)));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
  }

  /** Opens a WebSocket to `url`; rejects when it is refused, fails or takes longer than `timeoutMs`. */
  static dial(url: string, options: WsDialOptions): Promise<WsTransport> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: DEFAULT_MAX_FRAME_BYTES, handshakeTimeout: options.timeoutMs, ...(options.tls ?? {}) });
      ws.binaryType = 'nodebuffer';
      let socket: Socket | undefined;
      const fail = (err: Error) => {
        clearTimeout(timer);
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new ProtocolError(`no WebSocket to ${url} within ${options.timeoutMs} ms`)), options.timeoutMs);
      ws.once('upgrade', (res) => (socket = res.socket as Socket));
      ws.once('error', (e) => fail(new ProtocolError(`${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e })));
      ws.once('unexpected-response', (_req, res) => fail(new ProtocolError(`${url} answered HTTP ${res.statusCode} instead of upgrading`)));
      ws.once('open', () => {
        clearTimeout(timer);
        ws.removeAllListeners('error');
        resolve(new WsTransport(ws, socket!, url));
      });
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: object): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeBody(frame));
    return true;
  }

  receive(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
    this.deliver();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    try {
      if (!isBinary) throw new ProtocolError('a text message from the server');
      this.waiting.push(decodeBody(data));
    } catch (e) {
      this.broken ??= e as Error;
      this.ws.terminate(); // a broken stream: the owner re-homes as after any drop
      return;
    }
    this.deliver();
  }

  private deliver(): void {
    while (this.receiver && this.waiting.length > 0) this.receiver(this.waiting.shift());
  }

  end(lingerMs: number): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const t = setTimeout(() => this.ws.terminate(), lingerMs);
    this.ws.once('close', () => clearTimeout(t));
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}
