import type { Socket } from 'node:net';
import { FrameDecoder } from '../../protocol/frames.js';
import { BatchedConnection } from './batched-connection.js';
import { CONNECTION, type ClientConnection, type ConnectedSocket, type ConnectionHandler } from './client-connection.js';

/**
 * A client connection over a raw socket carrying length-prefixed frames. Its listeners are
 * shared by every socket (an emitter calls them with the socket as `this`): no closure per connection.
 */
export class TcpConnection<S> extends BatchedConnection implements ClientConnection {
  readonly transport = 'tcp';
  private readonly decoder: FrameDecoder;
  private stopped = false;
  private paused = false;

  constructor(
    readonly socket: Socket,
    readonly owner: S,
    private readonly handler: ConnectionHandler<S>,
    maxFrameBytes?: number,
  ) {
    super();
    this.decoder = new FrameDecoder(maxFrameBytes);
    (socket as ConnectedSocket)[CONNECTION] = this;
    socket.on('data', onData);
    socket.once('close', onClose);
  }

  protected get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** One write per turn: several frames joined into one buffer (cheaper than a writev of small ones). */
  protected send(frames: Buffer | Buffer[], bytes: number): void {
    this.socket.write(Array.isArray(frames) ? BatchedConnection.joined(frames, bytes) : frames);
  }

  get queuedBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.stopped) this.socket.resume();
  }

  /** Starts reading a socket the port paused while it sniffed the transport, unless the protocol paused it meanwhile. */
  flow(): void {
    if (!this.paused && !this.stopped) this.socket.resume();
  }

  end(lingerMs: number): void {
    this.stopped = true;
    this.flush();
    this.socket.end();
    setTimeout(destroySocket, lingerMs, this.socket).unref();
  }

  destroy(): void {
    this.stopped = true;
    this.discard();
    this.socket.destroy();
  }

  /** @internal */
  receive(chunk: Buffer): void {
    if (this.stopped || !this.handler.received(this.owner, chunk.length)) return;
    let frames: unknown[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.stopped = true;
      this.handler.malformed(this.owner, e as Error);
      return;
    }
    for (const f of frames) {
      if (this.stopped) return;
      this.handler.frame(this.owner, f);
    }
  }

  /** @internal */
  closed(): void {
    this.stopped = true;
    this.handler.closed(this.owner);
  }
}

function onData(this: ConnectedSocket, chunk: Buffer): void {
  (this[CONNECTION] as TcpConnection<unknown> | undefined)?.receive(chunk);
}

function onClose(this: ConnectedSocket): void {
  (this[CONNECTION] as TcpConnection<unknown> | undefined)?.closed();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
