import type { Socket } from 'node:net';

/**
 * One client connection as the messaging protocol sees it, whatever carries the frames: the raw
 * framed TCP socket today (tcp-connection.ts); a WebSocket or TLS transport implements the same.
 */
export interface ClientConnection {
  /** Queues one encoded frame (4-byte big-endian length, then the MessagePack body) for the peer. */
  write(frame: Buffer): void;
  /** Bytes written and not yet handed to the operating system (what a slow reader makes grow). */
  readonly queuedBytes: number;
  /** Stops reading from the peer until resume() (frames already read are still delivered). */
  pause(): void;
  resume(): void;
  /** Sends what is queued, then closes; destroyed if the peer has not closed within `lingerMs`. */
  end(lingerMs: number): void;
  /** Closes at once, dropping what is queued. */
  destroy(): void;
  /** The TCP socket underneath: the ClusterServer counts and migrates connections by it. */
  readonly socket: Socket;
}

/** What a transport tells the protocol about the connection owned by `owner`. */
export interface ConnectionHandler<S> {
  /** `bytes` arrived from the peer, before framing; false: drop them (the handler is closing the connection). */
  received(owner: S, bytes: number): boolean;
  /** One decoded frame body (a MessagePack value, not yet checked). */
  frame(owner: S, value: unknown): void;
  /** Bytes that are not a frame (oversize, empty or undecodable); nothing after them is read. */
  malformed(owner: S, error: Error): void;
  /** The connection is closed, for whatever reason. */
  closed(owner: S): void;
}
