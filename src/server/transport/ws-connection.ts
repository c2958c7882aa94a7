import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { ProtocolError } from '../../errors.js';
import { decodeBody } from '../../protocol/frames.js';
import { BatchedConnection } from './batched-connection.js';
import { CONNECTION, type ClientConnection, type ConnectedSocket, type ConnectionHandler } from './client-connection.js';

const WS_CONNECTION = Symbol('fulcrum.ws-connection');
type OwnedWebSocket = WebSocket & { [WS_CONNECTION]?: WsConnection<unknown> };

/** Bytes of the length prefix a raw frame carries and a WebSocket message does not. */
const HEADER_BYTES = 4;

/**
 * A client connection over a WebSocket: one binary message is one frame body (no length prefix);
 * a text message is a protocol error. Listeners are shared by every connection, as for TCP.
 */
export class WsConnection<S> extends BatchedConnection implements ClientConnection {
  readonly transport = 'ws';
  private stopped = false;

  constructor(
    readonly ws: WebSocket,
    readonly socket: Socket,
    readonly owner: S,
    private readonly handler: ConnectionHandler<S>,
  ) {
    super();
    (ws as OwnedWebSocket)[WS_CONNECTION] = this as WsConnection<unknown>;
    (socket as ConnectedSocket)[CONNECTION] = this;
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.on('error', ignore); // an oversize or broken message: ws closes it (1009 / 1002), 'close' follows
  }

  protected get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** One message per frame (WebSocket framing), corked so that a turn's messages leave in one write. */
  protected send(frames: Buffer | Buffer[]): void {
    if (!Array.isArray(frames)) return this.ws.send(frames.subarray(HEADER_BYTES));
    this.socket.cork();
    for (const f of frames) this.ws.send(f.subarray(HEADER_BYTES));
    this.socket.uncork();
  }

  get queuedBytes(): number {
    return this.ws.bufferedAmount + this.pendingBytes;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (!this.stopped) this.ws.resume();
  }

  end(lingerMs: number): void {
    this.stopped = true;
    this.flush();
    this.ws.close(1000);
    setTimeout(terminate, lingerMs, this.ws).unref();
  }

  destroy(): void {
    this.stopped = true;
    this.discard();
    this.ws.terminate();
  }

  /** @internal */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.stopped || !this.handler.received(this.owner, data.length)) return;
    let value: unknown;
    try {
      if (!isBinary) throw new ProtocolError('a text message (frames are binary messages)');
      value = decodeBody(data);
    } catch (e) {
      this.stopped = true;
      this.handler.malformed(this.owner, e as Error);
      return;
    }
    this.handler.frame(this.owner, value);
  }

  /** @internal */
  closed(): void {
    this.stopped = true;
    this.handler.closed(this.owner);
  }
}

function onMessage(this: OwnedWebSocket, data: Buffer, isBinary: boolean): void {
  this[WS_CONNECTION]?.receive(data, isBinary);
}

function onClose(this: OwnedWebSocket): void {
  this[WS_CONNECTION]?.closed();
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}

function ignore(): void {}
