// Frames between routers / peer servers and a server's gateway (same framing as the client protocol).
// Server → peer first: hello {server, nonce}; peer → server: auth {proof?}; server → peer: ready.
// Then peer requests carry a `rid`, and the server answers each with one `result` of the same rid.
import { isMessageId, isName, isStreamPosition, type MessageId } from '../../protocol/messages.js';

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
  /** History on: the message's place in the user's stream (the server orders and de-duplicates by it). */
  offset?: number;
  epoch?: string;
}
/** Write `message` to every local member of `room`, or to every local user when `room` is absent. */
export interface PublishRequest {
  type: 'publish';
  rid: number;
  id: MessageId;
  body: unknown;
  room?: string;
  from?: string;
  /** History on (rooms only): the message's place in the room's stream. */
  offset?: number;
  epoch?: string;
}
/** Close the user's connection with `kicked {reason}`; with `before`, only a login older than that one. */
export interface KickRequest {
  type: 'kick';
  rid: number;
  user: string;
  reason: string;
  before?: { since: number; server: string; seq: number };
}

/** Which login of `user` this server holds (logging in or online), if any: how a server without the whole route table finds a user. */
export interface WhereRequest {
  type: 'where';
  rid: number;
  user: string;
}

export type GatewayRequest = DeliverRequest | PublishRequest | KickRequest | WhereRequest;

export interface GatewayResult {
  type: 'result';
  rid: number;
  ok: boolean;
  /** Why not, when ok is false (DELIVERY_CODES). */
  code?: string;
  acked?: boolean;
  recipients?: number;
  kicked?: boolean;
  /** where, and a kick that kicked nothing: the login of the user this server holds. */
  holder?: { since: number; server: string; seq: number };
}

/** Distributes the request side of Omit over the union. */
export type GatewayRequestBody = GatewayRequest extends infer R ? (R extends GatewayRequest ? Omit<R, 'rid'> : never) : never;

/** Longest kick `reason`, in UTF-8 bytes (it is shown to the client in `kicked`). */
export const MAX_KICK_REASON_BYTES = 64;
/** Longest `ackTimeoutMs` a deliver may ask for. @default 10 minutes */
export const MAX_GATEWAY_ACK_TIMEOUT_MS = 600_000;

/** A gateway request that breaks the rules; the gateway answers `error FULCRUM_BAD_FRAME` and closes the peer. */
export class BadGatewayRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadGatewayRequestError';
  }
}

const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function check(ok: boolean, type: unknown, what: string): void {
  if (!ok) throw new BadGatewayRequestError(`${typeof type === 'string' ? type.slice(0, 40) : 'request'}: ${what}`);
}

/**
 * Checks one decoded request from an authenticated peer, with the same rules as client frames
 * (names, ids, sizes), and returns exactly its known fields; throws BadGatewayRequestError
 * naming the first problem. Nothing of a bad request is acted on.
 */
export function parseGatewayRequest(m: unknown): GatewayRequest {
  check(typeof m === 'object' && m !== null && !Array.isArray(m), undefined, 'must be a map');
  const o = m as Record<string, unknown>;
  check(isUint(o.rid), o.type, 'rid must be a non-negative integer');
  const rid = o.rid as number;
  const from = () => {
    check(o.from === undefined || isName(o.from), o.type, 'from must be a user name');
    return o.from === undefined ? {} : { from: o.from as string };
  };
  const position = () => {
    if (o.offset === undefined && o.epoch === undefined) return {};
    check(isStreamPosition({ epoch: o.epoch, offset: o.offset }) && (o.offset as number) > 0, o.type, 'offset and epoch must come together: a positive integer and a non-empty string');
    return { offset: o.offset as number, epoch: o.epoch as string };
  };
  switch (o.type) {
    case 'deliver': {
      check(isName(o.user), o.type, 'user must be a user name');
      check(isMessageId(o.id), o.type, 'id must be a message id');
      check('body' in o, o.type, 'body is missing');
      check(o.ack === undefined || typeof o.ack === 'boolean', o.type, 'ack must be a boolean');
      check(o.ackTimeoutMs === undefined || (isUint(o.ackTimeoutMs) && o.ackTimeoutMs > 0 && o.ackTimeoutMs <= MAX_GATEWAY_ACK_TIMEOUT_MS), o.type, `ackTimeoutMs must be an integer from 1 to ${MAX_GATEWAY_ACK_TIMEOUT_MS}`);
      return {
        type: 'deliver', rid, user: o.user as string, id: o.id as DeliverRequest['id'], body: o.body, ...from(),
        ...(o.ack === undefined ? {} : { ack: o.ack as boolean }),
        ...(o.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: o.ackTimeoutMs as number }),
        ...position(),
      };
    }
    case 'publish':
      check(isMessageId(o.id), o.type, 'id must be a message id');
      check('body' in o, o.type, 'body is missing');
      check(o.room === undefined || isName(o.room), o.type, 'room must be a room name');
      check(o.offset === undefined || o.room !== undefined, o.type, 'a broadcast has no offset');
      return { type: 'publish', rid, id: o.id as PublishRequest['id'], body: o.body, ...from(), ...(o.room === undefined ? {} : { room: o.room as string }), ...position() };
    case 'kick': {
      check(isName(o.user), o.type, 'user must be a user name');
      check(typeof o.reason === 'string' && o.reason.length > 0 && Buffer.byteLength(o.reason) <= MAX_KICK_REASON_BYTES, o.type, `reason must be a non-empty string of at most ${MAX_KICK_REASON_BYTES} bytes`);
      let before: KickRequest['before'];
      if (o.before !== undefined) {
        const b = o.before as Record<string, unknown> | null;
        check(typeof b === 'object' && b !== null && isUint(b.since) && isName(b.server) && isUint(b.seq), o.type, 'before must be {since, server, seq}');
        before = { since: b!.since as number, server: b!.server as string, seq: b!.seq as number };
      }
      return { type: 'kick', rid, user: o.user as string, reason: o.reason as string, ...(before ? { before } : {}) };
    }
    case 'where':
      check(isName(o.user), o.type, 'user must be a user name');
      return { type: 'where', rid, user: o.user as string };
    default:
      throw new BadGatewayRequestError(`unknown request type ${JSON.stringify(typeof o.type === 'string' ? o.type.slice(0, 40) : o.type)}`);
  }
}
