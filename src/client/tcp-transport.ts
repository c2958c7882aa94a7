import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { ProtocolError } from '../errors.js';
import { encodeFrame, FrameDecoder } from '../protocol/frames.js';
import type { TlsClientOptions } from '../server/transport/tls-options.js';
import type { FrameReceiver, Transport } from './transport.js';

export interface TcpDialOptions {
  /** The TCP connect must finish within this. */
  timeoutMs: number;
  /** Disable Nagle so a small frame leaves at once. */
  noDelay: boolean;
  /** Speak TLS (the server publishes `tls: true`), trusting these. @default plain TCP */
  tls?: TlsClientOptions;
}

/** Length-prefixed MessagePack frames over one TCP socket (the wire protocol of the README). */
export class TcpTransport implements Transport {
  readonly peer: string;
  readonly closed: Promise<Error | undefined>;
  private readonly decoder = new FrameDecoder();
  private receiver: FrameReceiver | undefined;
  private readonly waiting: unknown[] = [];
  private reading = false;
  private broken: Error | undefined;

  private constructor(readonly socket: Socket) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (e) => (this.broken ??= e));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(this.broken)));
  }

  /** Opens a TCP (or TLS) connection; rejects when it is refused, fails or takes longer than `timeoutMs`. */
  static dial(ip: string, port: number, options: TcpDialOptions): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = options.tls ? tls.connect({ host: ip, port, ...options.tls }) : net.connect({ host: ip, port, noDelay: options.noDelay });
      if (options.tls) socket.setNoDelay(options.noDelay);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new ProtocolError(`no connection to ${ip}:${port} within ${options.timeoutMs} ms`)), options.timeoutMs);
      const onClose = () => fail(new ProtocolError(`${ip}:${port} closed the connection`));
      socket.once('error', fail);
      socket.once('close', onClose);
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', onClose);
        resolve(new TcpTransport(socket));
      });
    });
  }

  get isOpen(): boolean {
    return !this.socket.destroyed;
  }

  send(frame: object): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(encodeFrame(frame));
    return true;
  }

  receive(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
    if (!this.reading) {
      this.reading = true;
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    }
    this.deliver();
  }

  /** Leaves the socket's bytes to the application (a custom protocol: nothing is decoded). */
  raw(): Socket {
    this.socket.resume(); // do not let bytes pile up
    return this.socket;
  }

  private onData(chunk: Buffer): void {
    try {
      this.waiting.push(...this.decoder.push(chunk));
    } catch (e) {
      this.broken ??= e as Error;
      this.socket.destroy(); // a broken stream: the owner re-homes as after any drop
      return;
    }
    this.deliver();
  }

  private deliver(): void {
    // The receiver may hand over to another one mid-batch (nextFrame does): the rest waits for it.
    while (this.receiver && this.waiting.length > 0) this.receiver(this.waiting.shift());
  }

  end(lingerMs: number): void {
    if (this.socket.destroyed) return;
    const t = setTimeout(() => this.socket.destroy(), lingerMs);
    this.socket.once('close', () => clearTimeout(t));
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
