import { performance } from 'node:perf_hooks';
import type { BadFrameError, ClientFrame, MessageId } from '../../protocol/messages.js';
import type { LoginOrder } from '../login-order.js';
import type { ClientConnection } from '../../server/transport/client-connection.js';
import type { SessionLimits } from './session-limits.js';
import type { StreamCursor, UserCursor } from './stream-cursor.js';

/**
 * anonymous → logging-in (route being stored) → online (welcomed) → closing; anonymous → closing.
 * Only `online` sessions receive messages; frames a client sends while logging in wait their turn.
 */
export type SessionState = 'anonymous' | 'logging-in' | 'online' | 'closing';

/** Why a session ended (the `logout` event's reason). */
export type EndReason = 'closed' | 'replaced' | 'kicked' | 'slow' | 'expired' | 'refused';

export interface PendingAck {
  resolve: (acked: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * What the server keeps for one client connection. Kept lean for idle connections: rooms, acks,
 * the backlog and the login waiters are created when first needed and dropped when empty.
 */
export class ClientSession {
  state: SessionState = 'anonymous';
  /** Set right after construction by the transport that carries the session. */
  conn!: ClientConnection;
  user: string | undefined;
  order: LoginOrder | undefined;
  /** Epoch ms when the login's (or the last refresh's) token expires; undefined when tokens are not checked. */
  expiresAt: number | undefined;
  /** Why the server ends it; undefined: the peer closed. */
  endReason: EndReason | undefined;
  rooms: Set<string> | undefined;
  acks: Map<MessageId, PendingAck> | undefined;
  /** Frames (and bad frames) that arrived while an asynchronous step (login, an async authorize) ran, in order; undefined when none runs. */
  backlog: (ClientFrame | BadFrameError)[] | undefined;
  /** Told when a login in progress ends (welcomed or not): deliveries that arrived before the welcome. */
  loginWaiters: (() => void)[] | undefined;
  /** History on: the user's stream on this connection (from the welcome on). */
  userStream: UserCursor | undefined;
  /** History on: each joined room's stream on this connection. */
  roomStreams: Map<string, StreamCursor> | undefined;
  private frameTokens: number;
  private byteTokens: number;
  /** performance.now() of the last refill; 0 until the first spend (the buckets start full, so a refill from 0 leaves them full). */
  private refilledAt = 0;

  constructor(limits: SessionLimits) {
    this.frameTokens = limits.maxInboundFramesPerSecond;
    this.byteTokens = limits.maxInboundBytesPerSecond;
  }

  /** Takes `frames` and `bytes` from the token buckets (capacity: one second at the limit); false when either runs dry. */
  spend(frames: number, bytes: number, limits: SessionLimits): boolean {
    const now = performance.now();
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.refilledAt = now;
      this.frameTokens = Math.min(limits.maxInboundFramesPerSecond, this.frameTokens + (elapsed * limits.maxInboundFramesPerSecond) / 1000);
      this.byteTokens = Math.min(limits.maxInboundBytesPerSecond, this.byteTokens + (elapsed * limits.maxInboundBytesPerSecond) / 1000);
    }
    if (this.frameTokens < frames || this.byteTokens < bytes) return false;
    this.frameTokens -= frames;
    this.byteTokens -= bytes;
    return true;
  }
}
