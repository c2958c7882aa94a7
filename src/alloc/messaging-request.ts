import { pack } from 'msgpackr';
import { isName, MAX_NAME_BYTES } from '../protocol/messages.js';
import { DEFAULT_ONLINE_LIMIT, MAX_MESSAGE_BYTES } from '../messaging/router.js';
import { BadRequestError, PayloadTooLargeError } from './http-errors.js';

/** Most users one `POST /push` may name. */
export const MAX_PUSH_USERS = 1_000;
/** Largest `limit` of `GET /online`. */
export const MAX_ONLINE_LIMIT = 10_000;
/** Shortest and longest ack wait a push may ask for. */
export const MIN_PUSH_ACK_TIMEOUT_MS = 50;
export const MAX_PUSH_ACK_TIMEOUT_MS = 60_000;

/** A validated `POST /push` body: one user or a list. */
export interface PushRequest {
  users: string[];
  /** True when the body named `users` (the answer then lists a result per user). */
  many: boolean;
  message: unknown;
  ackTimeoutMs?: number;
  from?: string;
}

export interface FanoutRequest {
  message: unknown;
  from?: string;
}

export interface OnlineRequest {
  prefix?: string;
  limit: number;
}

const NAME_RULE = `must be a non-empty string of at most ${MAX_NAME_BYTES} bytes`;

function asObject(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw BadRequestError.field(k, 'is not a known field');
  return o;
}

/** A user or room name from a body, query or path. */
export function parseName(v: unknown, field: string): string {
  if (!isName(v)) throw BadRequestError.field(field, NAME_RULE);
  return v;
}

function parseMessage(o: Record<string, unknown>): unknown {
  if (!('message' in o)) throw BadRequestError.field('message', 'is required (any JSON value)');
  // Measured as it travels (MessagePack), not as JSON: the two differ, floats especially.
  // The push client checks the same limit; here it is a 413 before anything is sent.
  const size = pack(o.message).length;
  if (size > MAX_MESSAGE_BYTES) throw new PayloadTooLargeError(MAX_MESSAGE_BYTES, 'message');
  return o.message;
}

function parseFrom(o: Record<string, unknown>): { from?: string } {
  return o.from === undefined ? {} : { from: parseName(o.from, 'from') };
}

export function parsePush(body: unknown): PushRequest {
  const o = asObject(body, ['user', 'users', 'message', 'ackTimeoutMs', 'from']);
  if ((o.user === undefined) === (o.users === undefined)) throw new BadRequestError('give exactly one of user and users');
  let users: string[];
  if (o.user !== undefined) users = [parseName(o.user, 'user')];
  else {
    if (!Array.isArray(o.users) || o.users.length === 0 || o.users.length > MAX_PUSH_USERS) {
      throw BadRequestError.field('users', `must be an array of 1 to ${MAX_PUSH_USERS} user names`);
    }
    users = o.users.map((u, i) => parseName(u, `users[${i}]`));
    if (new Set(users).size !== users.length) throw BadRequestError.field('users', 'must not name a user twice');
  }
  let ackTimeoutMs: number | undefined;
  if (o.ackTimeoutMs !== undefined) {
    const t = o.ackTimeoutMs;
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < MIN_PUSH_ACK_TIMEOUT_MS || t > MAX_PUSH_ACK_TIMEOUT_MS) {
      throw BadRequestError.field('ackTimeoutMs', `must be an integer between ${MIN_PUSH_ACK_TIMEOUT_MS} and ${MAX_PUSH_ACK_TIMEOUT_MS}`);
    }
    ackTimeoutMs = t;
  }
  const message = parseMessage(o);
  return { users, many: o.users !== undefined, message, ...(ackTimeoutMs === undefined ? {} : { ackTimeoutMs }), ...parseFrom(o) };
}

export function parseFanout(body: unknown): FanoutRequest {
  const o = asObject(body, ['message', 'from']);
  return { message: parseMessage(o), ...parseFrom(o) };
}

/** `?prefix=&limit=` of `GET /online`; an empty prefix matches everyone. */
export function parseOnline(prefix: string | undefined, limit: string | undefined): OnlineRequest {
  if (prefix !== undefined && Buffer.byteLength(prefix, 'utf8') > MAX_NAME_BYTES) throw BadRequestError.field('prefix', `must be at most ${MAX_NAME_BYTES} bytes`);
  let n = DEFAULT_ONLINE_LIMIT;
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_ONLINE_LIMIT) {
      throw BadRequestError.field('limit', `must be an integer between 1 and ${MAX_ONLINE_LIMIT}`);
    }
    n = Number(limit);
  }
  return { ...(prefix ? { prefix } : {}), limit: n };
}
