// The messaging frames of the client wire protocol (same framing as ping/pong: see frames.ts).

/** Longest `user` or `room`, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 128;
/** Longest string `id`, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;
/** Longest `token`, in characters. */
export const MAX_TOKEN_LENGTH = 4096;

/**
 * Stable codes of `error` frames. The socket is closed right after one, except for an `error`
 * that names a `room` (it refuses that one `join`: FORBIDDEN, TOO_MANY_ROOMS) or carries
 * `refresh: true` (it refuses that one `refresh`: a TOKEN_* code): then the connection stays.
 */
export const WIRE_ERRORS = {
  badFrame: 'FULCRUM_BAD_FRAME',
  notLoggedIn: 'FULCRUM_NOT_LOGGED_IN',
  alreadyLoggedIn: 'FULCRUM_ALREADY_LOGGED_IN',
  tokenMissing: 'FULCRUM_TOKEN_MISSING',
  tokenInvalid: 'FULCRUM_TOKEN_INVALID',
  tokenExpired: 'FULCRUM_TOKEN_EXPIRED',
  tokenWrongUser: 'FULCRUM_TOKEN_WRONG_USER',
  /** The application's authorize hook said no (login: fatal; join: that join only). */
  forbidden: 'FULCRUM_FORBIDDEN',
  /** A join beyond the rooms-per-connection limit (that join only). */
  tooManyRooms: 'FULCRUM_TOO_MANY_ROOMS',
  /** More frames or bytes per second than the connection may send. */
  rateLimited: 'FULCRUM_RATE_LIMITED',
  /** The login's route could not be stored in ZooKeeper in time; try again (another server, later). */
  routesUnavailable: 'FULCRUM_ROUTES_UNAVAILABLE',
  /** The server failed handling a frame (a bug); the connection is closed. */
  internal: 'FULCRUM_INTERNAL',
  /** With history on: the login's missed messages could not be read from the store in time; try again (another server, later). */
  historyUnavailable: 'FULCRUM_HISTORY_UNAVAILABLE',
} as const;

/** Codes carried by `sent {delivered:false}` and gateway results. */
export const DELIVERY_CODES = {
  offline: 'FULCRUM_USER_OFFLINE',
  notAcked: 'FULCRUM_PUSH_TIMEOUT',
  unavailable: 'FULCRUM_GATEWAY_UNAVAILABLE',
  tooLarge: 'FULCRUM_MESSAGE_TOO_LARGE',
  /** (`sent`) the application's authorize hook refused this send. */
  forbidden: 'FULCRUM_FORBIDDEN',
} as const;

/**
 * Why a server closed a connection on purpose (`kicked` frame): logged in elsewhere, by an
 * operator, read too slowly (more than the queued-bytes limit waiting for the socket), or its
 * login token expired without a refresh (past the grace period).
 */
export const KICK_REASONS = { replaced: 'replaced', kicked: 'kicked', slow: 'slow', expired: 'expired' } as const;

export type MessageId = string | number;

/** Longest `epoch`, in bytes. */
export const MAX_EPOCH_BYTES = 64;

/**
 * A place in a stream (history on): `offset` counts the stream's messages (+1 each, from 1);
 * `epoch` names the stream's storage and changes when that storage was lost.
 */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

export interface LoginFrame {
  type: 'login';
  user: string;
  token?: string;
  /** History on: the client has the user's stream up to here; the server replays what follows. */
  since?: StreamPosition;
}
export interface AckFrame {
  type: 'ack';
  id: MessageId;
}
export interface SendFrame {
  type: 'send';
  id: MessageId;
  to: string;
  body: unknown;
}
export interface JoinFrame {
  type: 'join';
  room: string;
  /** History on: the client has the room's stream up to here; the server replays what follows. */
  since?: StreamPosition;
}
export interface LeaveFrame {
  type: 'leave';
  room: string;
}
/** A fresh token for the logged-in user, on the live connection. */
export interface RefreshFrame {
  type: 'refresh';
  token: string;
}
export interface ClientPingFrame {
  type: 'ping';
  seq: number;
  /** The client arrived through a `migrate` (see frames.ts). */
  migrated?: boolean;
}

/** Every frame a client may send. */
export type ClientFrame = LoginFrame | AckFrame | SendFrame | JoinFrame | LeaveFrame | ClientPingFrame | RefreshFrame;

export interface WelcomeFrame {
  type: 'welcome';
  user: string;
  server: string;
  /** History on: every message after the login's position (`since`, else the acked cursor) follows; false when some of them were lost. */
  recovered?: boolean;
  /** History on: the user's stream now (the replay that follows ends at or after `offset`). */
  epoch?: string;
  offset?: number;
  /** Epoch ms when the login's token expires (servers that check tokens). */
  expiresAt?: number;
}
/** History on: the answer to `join` (then the room's missed messages, then live ones). */
export interface JoinedFrame {
  type: 'joined';
  room: string;
  /** Only when the join gave `since`: every message after it follows (false: some were lost). */
  recovered?: boolean;
  epoch: string;
  offset: number;
}
/** The answer to a good `refresh`: the connection now lives until the new token's expiry. */
export interface RefreshedFrame {
  type: 'refreshed';
  /** Epoch ms; absent on a server that checks no tokens. */
  expiresAt?: number;
}
export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  /** Set when the error refuses one `join` of this room; the connection stays open. */
  room?: string;
  /** Set when the error refuses one `refresh` (the token before it stays in force); the connection stays open. */
  refresh?: true;
}
export interface MessageFrame {
  type: 'message';
  id: MessageId;
  body: unknown;
  from?: string;
  room?: string;
  /** A broadcast (to every online user; never stored, never acked). */
  broadcast?: true;
  /** History on: the message's place in its stream (the user's, or the room's). */
  offset?: number;
  epoch?: string;
}
export interface SentFrame {
  type: 'sent';
  id: MessageId;
  delivered: boolean;
  /** Why not, when `delivered` is false. */
  code?: string;
  /** History on: not delivered (yet), but stored in the receiver's stream: it arrives at the receiver's next login. */
  stored?: true;
}
export interface KickedFrame {
  type: 'kicked';
  reason: string;
}

/** A frame that breaks the protocol; the server answers with an `error` frame and closes. */
export class BadFrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BadFrameError';
  }
}

/** A non-empty string of at most MAX_NAME_BYTES UTF-8 bytes. */
export function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && Buffer.byteLength(v, 'utf8') <= MAX_NAME_BYTES;
}

export function isMessageId(v: unknown): v is MessageId {
  return (typeof v === 'string' && v.length > 0 && Buffer.byteLength(v, 'utf8') <= MAX_ID_BYTES) || Number.isSafeInteger(v);
}

/** An `{epoch, offset}` map: epoch a non-empty string of at most MAX_EPOCH_BYTES bytes, offset a non-negative integer. */
export function isStreamPosition(v: unknown): v is StreamPosition {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = v as Record<string, unknown>;
  return typeof p.epoch === 'string' && p.epoch.length > 0 && Buffer.byteLength(p.epoch, 'utf8') <= MAX_EPOCH_BYTES && Number.isSafeInteger(p.offset) && (p.offset as number) >= 0;
}

function since(o: Record<string, unknown>): { since?: StreamPosition } {
  if (o.since === undefined || o.since === null) return {};
  field(o, 'since', isStreamPosition, `{epoch: a non-empty string of at most ${MAX_EPOCH_BYTES} bytes, offset: a non-negative integer}`);
  const p = o.since as StreamPosition;
  return { since: { epoch: p.epoch, offset: p.offset } };
}

function field(o: Record<string, unknown>, name: string, ok: (v: unknown) => boolean, what: string): void {
  if (!ok(o[name])) throw new BadFrameError(WIRE_ERRORS.badFrame, `${String(o.type)}: ${name} must be ${what}`);
}

const NAME = `a non-empty string of at most ${MAX_NAME_BYTES} bytes`;
const ID = `a non-empty string of at most ${MAX_ID_BYTES} bytes or an integer`;

/** Checks one decoded frame from a client; throws BadFrameError naming the first problem. */
export function parseClientFrame(m: unknown): ClientFrame {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadFrameError(WIRE_ERRORS.badFrame, 'a frame must be a map');
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'ping':
      field(o, 'seq', Number.isInteger, 'an integer');
      return o.migrated === true ? { type: 'ping', seq: o.seq as number, migrated: true } : { type: 'ping', seq: o.seq as number };
    case 'login':
      field(o, 'user', isName, NAME);
      if (o.token !== undefined && o.token !== null) field(o, 'token', (v) => typeof v === 'string' && v.length <= MAX_TOKEN_LENGTH, 'a string');
      return { type: 'login', user: o.user as string, ...(typeof o.token === 'string' ? { token: o.token } : {}), ...since(o) };
    case 'refresh':
      field(o, 'token', (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_TOKEN_LENGTH, `a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
      return { type: 'refresh', token: o.token as string };
    case 'ack':
      field(o, 'id', isMessageId, ID);
      return { type: 'ack', id: o.id as MessageId };
    case 'send':
      field(o, 'id', isMessageId, ID);
      field(o, 'to', isName, NAME);
      if (!('body' in o)) throw new BadFrameError(WIRE_ERRORS.badFrame, 'send: body is missing');
      return { type: 'send', id: o.id as MessageId, to: o.to as string, body: o.body };
    case 'join':
      field(o, 'room', isName, NAME);
      return { type: 'join', room: o.room as string, ...since(o) };
    case 'leave':
      field(o, 'room', isName, NAME);
      return { type: 'leave', room: o.room as string };
    default:
      throw new BadFrameError(WIRE_ERRORS.badFrame, `unknown frame type ${JSON.stringify(typeof o.type === 'string' ? o.type.slice(0, 40) : o.type)}`);
  }
}

export function isFrameOf<T extends { type: string }>(m: unknown, type: T['type']): m is T {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
}
