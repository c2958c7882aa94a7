import type { Socket } from 'node:net';
import { encodeFrame, FrameDecoder, isPing, type PingMessage, type PongMessage } from '../protocol/frames.js';

export interface PingHandlerOptions {
  /** Id sent back in every pong. */
  id: string;
  maxFrameBytes?: number;
  /** Told about a socket closed for a protocol violation. */
  onProtocolError?: (err: Error) => void;
  /** Told about every ping, before the pong (the server learns the socket speaks fulcrum frames). */
  onPing?: (socket: Socket, ping: PingMessage) => void;
}

/**
 * The default connection handler: answers each `ping` frame with a `pong` carrying the server id.
 * An oversize or undecodable frame closes that socket only.
 */
export function pingHandler(opts: PingHandlerOptions): (socket: Socket) => void {
  return (socket) => {
    const decoder = new FrameDecoder(opts.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (e) {
        opts.onProtocolError?.(e as Error);
        socket.destroy();
        return;
      }
      for (const m of messages) {
        if (isPing(m)) {
          opts.onPing?.(socket, m);
          const pong: PongMessage = { type: 'pong', seq: m.seq, id: opts.id };
          socket.write(encodeFrame(pong));
        }
      }
    });
  };
}
