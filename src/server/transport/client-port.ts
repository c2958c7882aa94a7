import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocol/frames.js';
import type { FrameProtocol, TransportKind } from './client-connection.js';
import { TcpConnection } from './tcp-connection.js';
import { WsConnection } from './ws-connection.js';

/** The path a WebSocket client upgrades at. */
export const WS_PATH = '/ws';
/** An HTTP request on the client port must have upgraded within this; then it is closed. @default 10000 */
export const UPGRADE_TIMEOUT_MS = 10_000;
/**
 * How the port tells the transports apart from the first byte: a raw frame starts with its 4-byte
 * big-endian length, at most 64 KiB, so with 0x00; an HTTP upgrade starts with `GET `. Every other
 * first byte is read as raw frames (and refused there as an oversize frame).
 */
const HTTP_FIRST_BYTE = 0x47; // 'G'

export interface ClientPortOptions {
  /** Who speaks to each connection. */
  protocol: FrameProtocol;
  /** Accept a WebSocket upgrade at WS_PATH besides raw frames. */
  websocket: boolean;
  /** Largest frame body (and WebSocket message). @default DEFAULT_MAX_FRAME_BYTES (64 KiB) */
  maxFrameBytes?: number;
}

function refuse(socket: Socket, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * A server's client port: hands each accepted socket (plain or TLS) to the frame protocol over
 * the transport the client speaks — raw length-prefixed frames, or a WebSocket upgraded at
 * `/ws` (ws, no compression) whose binary messages are the same frames without the prefix.
 */
export class ClientPort {
  readonly transports: readonly TransportKind[];
  private readonly upgrades: { http: http.Server; wss: WebSocketServer } | undefined;
  private readonly maxFrameBytes: number;

  constructor(private readonly options: ClientPortOptions) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.transports = options.websocket ? ['tcp', 'ws'] : ['tcp'];
    if (!options.websocket) return;
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.maxFrameBytes, clientTracking: false });
    // Never listens: the port hands it the sockets that start with an HTTP request.
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket', connection: 'close' });
      res.end(JSON.stringify({ error: { code: 'FULCRUM_UPGRADE_REQUIRED', message: `this port speaks fulcrum frames: raw, or a WebSocket at ${WS_PATH}` } }));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    server.on('clientError', (_e, socket: Socket) => socket.destroy());
    this.upgrades = { http: server, wss };
  }

  /** Takes one accepted (and counted) socket. */
  accept(socket: Socket): void {
    if (!this.upgrades) {
      this.raw(socket);
      return;
    }
    socket.once('data', (chunk: Buffer) => this.sniff(socket, chunk));
  }

  private sniff(socket: Socket, chunk: Buffer): void {
    socket.pause();
    socket.unshift(chunk);
    if (chunk[0] === HTTP_FIRST_BYTE && this.upgrades) {
      socket.setTimeout(UPGRADE_TIMEOUT_MS, () => socket.destroy());
      this.upgrades.http.emit('connection', socket);
      socket.resume();
      return;
    }
    this.raw(socket).flow();
  }

  private raw(socket: Socket): TcpConnection<unknown> {
    let conn: TcpConnection<unknown> | undefined;
    const { protocol } = this.options;
    protocol.open((owner) => (conn = new TcpConnection(socket, owner, protocol, this.maxFrameBytes)));
    return conn!;
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.setTimeout(0);
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) return refuse(socket, 404, 'FULCRUM_NOT_FOUND', `WebSocket clients upgrade at ${WS_PATH}`);
    const { protocol } = this.options;
    this.upgrades!.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      protocol.open((owner) => new WsConnection(ws, socket, owner, protocol));
    });
  }
}
