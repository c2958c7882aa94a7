import type { Socket } from 'node:net';

/** What carries a client connection's frames: raw framed TCP, or a WebSocket (binary messages). */
export type TransportKind = 'tcp' | 'ws';

/**
 * One client connection as a frame protocol sees it, whatever carries the frames: a raw framed
 * socket (tcp-connection.ts) or a WebSocket (ws-connection.ts), either over plain TCP or TLS.
 */
export interface ClientConnection {
  /**
   * Queues one encoded frame (4-byte big-endian length, then the MessagePack body) for the peer;
   * the frames of one event-loop turn reach the socket together, in order, at the end of the turn.
   * A WebSocket sends the body alone as one binary message, so a frame encoded once serves both.
   */
  write(frame: Buffer): void;
  /** Hands the frames written in this turn to the socket now (they go at the end of the turn otherwise). */
  flush(): void;
  /** Bytes written and not yet handed to the operating system (what a slow reader makes grow), frames waiting for the end of the turn included. */
  readonly queuedBytes: number;
  /** Stops reading from the peer until resume() (frames already read are still delivered). */
  pause(): void;
  resume(): void;
  /** Sends what is queued, then closes; destroyed if the peer has not closed within `lingerMs`. */
  end(lingerMs: number): void;
  /** Closes at once, dropping what is queued. */
  destroy(): void;
  /** The accepted socket underneath (a TLSSocket on a TLS port): the ClusterServer counts and migrates connections by it. */
  readonly socket: Socket;
}

/** What a transport tells the protocol about the connection owned by `owner`. */
export interface ConnectionHandler<S> {
  /** `bytes` arrived from the peer, before framing; false: drop them (the handler is closing the connection). */
  received(owner: S, bytes: number): boolean;
  /** One decoded frame body (a MessagePack value, not yet checked). */
  frame(owner: S, value: unknown): void;
  /** Bytes that are not a frame (oversize, empty or undecodable, a text message); nothing after them is read. */
  malformed(owner: S, error: Error): void;
  /** The connection is closed, for whatever reason. */
  closed(owner: S): void;
}

/**
 * A protocol spoken in fulcrum frames on a client port (the ping protocol of a plain server, the
 * messaging protocol): the port builds each connection with `connect` around the owner the
 * protocol makes for it, then reports to the protocol as its ConnectionHandler.
 */
export interface FrameProtocol<S = unknown> extends ConnectionHandler<S> {
  open(connect: (owner: S) => ClientConnection): S;
}

/** The connection an accepted socket carries, once the port knows which transport it speaks. */
export const CONNECTION = Symbol('fulcrum.connection');
export type ConnectedSocket = Socket & { [CONNECTION]?: ClientConnection };

export function connectionOf(socket: Socket): ClientConnection | undefined {
  return (socket as ConnectedSocket)[CONNECTION];
}
