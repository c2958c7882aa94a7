import type { Socket } from 'node:net';
import { FrameDecoder } from '../../protocol/frames.js';
import type { ClientConnection, ConnectionHandler } from './client-connection.js';

const CONNECTION = Symbol('fulcrum.connection');
type OwnedSocket = Socket & { [CONNECTION]?: TcpConnection<unknown> };

/**
 * A client connection over a raw TCP socket carrying length-prefixed frames. Its listeners are
 * shared by every socket (an emitter calls them with the socket as `this`): no closure per connection.
 */
export class TcpConnection<S> implements ClientConnection {
  private readonly decoder: FrameDecoder;
  private stopped = false;

  constructor(
    readonly socket: Socket,
    readonly owner: S,
    private readonly handler: ConnectionHandler<S>,
    maxFrameBytes?: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    (socket as OwnedSocket)[CONNECTION] = this as TcpConnection<unknown>;
    socket.setNoDelay(true);
    socket.on('data', onData);
    socket.once('close', onClose);
  }

  write(frame: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame);
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.stopped) this.socket.resume();
  }

  end(lingerMs: number): void {
    this.stopped = true;
    this.socket.end();
    setTimeout(destroySocket, lingerMs, this.socket).unref();
  }

  destroy(): void {
    this.stopped = true;
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

function onData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION]?.receive(chunk);
}

function onClose(this: OwnedSocket): void {
  this[CONNECTION]?.closed();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
