import type { Socket } from 'node:net';
import { appendChunk, DEFAULT_MAX_FRAME_BYTES, NO_PENDING_BYTES, takeFrames } from '../../protocol/frames.js';
import { BatchedConnection } from './batched-connection.js';
import { CONNECTION, type ClientConnection, type ConnectedSocket, type ConnectionHandler } from './client-connection.js';

/**
 * A client connection over a raw socket carrying length-prefixed frames. Kept small for the idle
 * many: its listeners are shared by every socket (an emitter calls them with the socket as `this`),
 * no closure or `once` wrapper per connection, and no decoder object: only the bytes of an
 * incomplete frame, when a chunk ended inside one (else a shared empty buffer).
 */
export class TcpConnection<S> extends BatchedConnection implements ClientConnection {
  /** The bytes of an incomplete inbound frame (the outbound frames waiting for the turn are the base class's). */
  private partial: Buffer = NO_PENDING_BYTES;
  private stopped = false;
  private paused = false;

  constructor(
    readonly socket: Socket,
    readonly owner: S,
    private readonly handler: ConnectionHandler<S>,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    super();
    (socket as ConnectedSocket)[CONNECTION] = this;
    socket.on('data', onData);
    socket.on('close', onClose); // a socket closes once: no `once` wrapper to keep
  }

  get transport(): 'tcp' {
    return 'tcp';
  }

  /** Bytes of an incomplete frame waiting for the rest of it. */
  get partialBytes(): number {
    return this.partial.length;
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
    const frames: unknown[] = [];
    let bad: Error | undefined;
    try {
      this.partial = takeFrames(appendChunk(this.partial, chunk), this.maxFrameBytes, frames);
    } catch (e) {
      bad = e as Error;
      this.partial = NO_PENDING_BYTES;
    }
    // The frames before a bad one are handled whether or not the same chunk carried it (as over WebSocket).
    for (const f of frames) {
      if (this.stopped) return;
      this.handler.frame(this.owner, f);
    }
    if (bad && !this.stopped) {
      this.stopped = true;
      this.handler.malformed(this.owner, bad);
    }
  }

  /** @internal */
  closed(): void {
    this.stopped = true;
    this.partial = NO_PENDING_BYTES;
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
