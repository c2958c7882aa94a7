// Frames between routers / peer servers and a server's gateway (same framing as the client protocol).
// Server → peer first: hello {server, nonce}; peer → server: auth {proof?}; server → peer: ready.
// Then peer requests carry a `rid`, and the server answers each with one `result` of the same rid.
import type { MessageId } from '../../protocol/messages.js';

export interface HelloFrame {
  type: 'hello';
  server: string;
  nonce: string;
}
export interface AuthFrame {
  type: 'auth';
  /** HMAC of the nonce (see gateway-auth.ts); required when the server has a secret. */
  proof?: string;
}
export interface ReadyFrame {
  type: 'ready';
}

/** Write `message` to the user's connection; with `ack`, answer once the client acked it. */
export interface DeliverRequest {
  type: 'deliver';
  rid: number;
  user: string;
  id: MessageId;
  body: unknown;
  from?: string;
  ack?: boolean;
  ackTimeoutMs?: number;
}
/** Write `message` to every local member of `room`, or to every local user when `room` is absent. */
export interface PublishRequest {
  type: 'publish';
  rid: number;
  id: MessageId;
  body: unknown;
  room?: string;
  from?: string;
}
/** Close the user's connection with `kicked {reason}`; with `before`, only a login older than that one. */
export interface KickRequest {
  type: 'kick';
  rid: number;
  user: string;
  reason: string;
  before?: { since: number; server: string; seq: number };
}

export type GatewayRequest = DeliverRequest | PublishRequest | KickRequest;

export interface GatewayResult {
  type: 'result';
  rid: number;
  ok: boolean;
  /** Why not, when ok is false (DELIVERY_CODES). */
  code?: string;
  acked?: boolean;
  recipients?: number;
  kicked?: boolean;
}

/** Distributes the request side of Omit over the union. */
export type GatewayRequestBody = GatewayRequest extends infer R ? (R extends GatewayRequest ? Omit<R, 'rid'> : never) : never;
