import type { Socket } from 'node:net';
import { encodeFrame, isPing, type PingMessage, type PongMessage } from '../protocol/frames.js';
import type { ClientConnection, FrameProtocol } from './transport/client-connection.js';
import { TcpConnection } from './transport/tcp-connection.js';

export interface PingHandlerOptions {
  /** Id sent back in every pong. */
  id: string;
  maxFrameBytes?: number;
  /** Told about a connection closed for a protocol violation. */
  onProtocolError?: (err: Error) => void;
  /** Told about every ping, before the pong (the server learns the socket speaks fulcrum frames). */
  onPing?: (socket: Socket, ping: PingMessage) => void;
}

interface PingOwner {
  conn: ClientConnection | undefined;
}

/**
 * The default protocol of a plain ClusterServer, on any transport: answers each `ping` frame with
 * a `pong` carrying the server id; other frames are ignored. An oversize or undecodable frame
 * closes that connection only.
 */
export class PingProtocol implements FrameProtocol<PingOwner> {
  constructor(private readonly opts: PingHandlerOptions) {}

  open(connect: (owner: PingOwner) => ClientConnection): PingOwner {
    const owner: PingOwner = { conn: undefined };
    owner.conn = connect(owner);
    return owner;
  }

  received(): boolean {
    return true;
  }

  frame(owner: PingOwner, m: unknown): void {
    if (!isPing(m) || !owner.conn) return;
    this.opts.onPing?.(owner.conn.socket, m);
    owner.conn.write(encodeFrame({ type: 'pong', seq: m.seq, id: this.opts.id } satisfies PongMessage));
  }

  malformed(owner: PingOwner, error: Error): void {
    this.opts.onProtocolError?.(error);
    owner.conn?.destroy();
  }

  closed(): void {}
}

/** The ping protocol as a raw-socket handler (length-prefixed frames only), for a handler of your own to delegate to. */
export function pingHandler(opts: PingHandlerOptions): (socket: Socket) => void {
  const protocol = new PingProtocol(opts);
  return (socket) => {
    protocol.open((owner) => new TcpConnection(socket, owner, protocol, opts.maxFrameBytes));
  };
}
