import type { FastifyInstance } from 'fastify';
import { pack } from 'msgpackr';
import { GatewayUnavailableError, HistoryUnavailableError, MessageTooLargeError, PushTimeoutError, UserOfflineError } from '../../errors.js';
import { MAX_HISTORY_READ, roomStream, userStream, type HistoryEngine, type ReadFrom, type StreamRef } from '../../messaging/history/history-engine.js';
import { MAX_MESSAGE_BYTES, type Router } from '../../messaging/router.js';
import { MAX_EPOCH_BYTES, MAX_NAME_BYTES } from '../../protocol/messages.js';
import { GatewayUnavailableHttpError, HistoryUnavailableHttpError, PayloadTooLargeError, PushTimeoutHttpError, UserOfflineHttpError } from '../http-errors.js';
import { ANY_JSON, errorResponse, NAME, type Schema } from '../http/schemas.js';
import { MAX_UTF8_BYTES } from '../http/validation.js';

/** Largest body of push / publish / broadcast: a list of 1,000 users plus a message near the frame limit. */
export const DEFAULT_MAX_MESSAGE_BODY_BYTES = 256 * 1024;
/** Most users one `POST /push` may name. */
export const MAX_PUSH_USERS = 1_000;
/** Largest `limit` of `GET /online`. */
export const MAX_ONLINE_LIMIT = 10_000;
/** Entries `GET /history/…` returns unless `limit` says otherwise. */
export const DEFAULT_HISTORY_LIMIT = 100;
/** Shortest and longest ack wait a push may ask for. */
export const MIN_PUSH_ACK_TIMEOUT_MS = 50;
export const MAX_PUSH_ACK_TIMEOUT_MS = 60_000;

export interface MessagingRoutesDeps {
  push: Router;
  /** @default DEFAULT_MAX_MESSAGE_BODY_BYTES (256 KiB) */
  maxBodyBytes?: number;
}

interface PushBody {
  user?: string;
  users?: string[];
  message: unknown;
  ackTimeoutMs?: number;
  from?: string;
}

interface FanoutBody {
  message: unknown;
  from?: string;
}

const FROM: Schema = { ...NAME, description: `a non-empty string of at most ${MAX_NAME_BYTES} UTF-8 bytes, shown to the receiver as the sender` };
const MESSAGE: Schema = { ...ANY_JSON, description: `any JSON value that fits a client frame once MessagePack-encoded (at most ${MAX_MESSAGE_BYTES} bytes, else 413)` };

const PUSH: Schema = {
  description: 'exactly one of `user` and `users`',
  type: 'object',
  additionalProperties: false,
  required: ['message'],
  oneOf: [{ required: ['user'] }, { required: ['users'] }],
  properties: {
    user: NAME,
    users: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_PUSH_USERS,
      uniqueItems: true,
      items: NAME,
      description: `an array of 1 to ${MAX_PUSH_USERS} distinct user names`,
    },
    message: MESSAGE,
    ackTimeoutMs: {
      type: 'integer',
      minimum: MIN_PUSH_ACK_TIMEOUT_MS,
      maximum: MAX_PUSH_ACK_TIMEOUT_MS,
      description: `an integer between ${MIN_PUSH_ACK_TIMEOUT_MS} and ${MAX_PUSH_ACK_TIMEOUT_MS}: how long to wait for the client's ack (default 5000)`,
    },
    from: FROM,
  },
};

const FANOUT: Schema = { type: 'object', additionalProperties: false, required: ['message'], properties: { message: MESSAGE, from: FROM } };

const EPOCH: Schema = { type: 'string', description: "the stream's epoch (history on): changes when its storage was lost" };
const OFFSET: Schema = { type: 'integer', description: "the message's place in its stream (history on): +1 per message" };

const PUSHED: Schema = {
  type: 'object',
  description: '`user`: the client acked',
  required: ['delivered', 'acked', 'server', 'id'],
  properties: { delivered: { type: 'boolean', const: true }, acked: { type: 'boolean', const: true }, server: { type: 'string' }, id: { type: 'string' }, epoch: EPOCH, offset: OFFSET },
};

const STORED: Schema = {
  type: 'object',
  description: "history on: stored in the user's stream but not acked (offline, not acked within ackTimeoutMs, or its server unreachable); it arrives at the user's next login",
  required: ['stored', 'delivered', 'acked', 'id', 'epoch', 'offset', 'code'],
  properties: {
    stored: { type: 'boolean', const: true },
    delivered: { type: 'boolean', const: false },
    acked: { type: 'boolean', const: false },
    id: { type: 'string' },
    epoch: EPOCH,
    offset: OFFSET,
    code: { type: 'string', enum: ['FULCRUM_USER_OFFLINE', 'FULCRUM_PUSH_TIMEOUT', 'FULCRUM_GATEWAY_UNAVAILABLE'], description: 'why it was not acked' },
    server: { type: 'string', description: 'the server it was written to (FULCRUM_PUSH_TIMEOUT)' },
  },
};

const PUSHED_MANY: Schema = {
  type: 'object',
  description: '`users`: one result per user, in order, once every user acked or failed',
  required: ['total', 'acked', 'results'],
  properties: {
    total: { type: 'integer' },
    acked: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['user', 'delivered', 'acked'],
        properties: {
          user: { type: 'string' },
          delivered: { type: 'boolean', description: 'written to the connection' },
          acked: { type: 'boolean' },
          server: { type: 'string' },
          id: { type: 'string' },
          stored: { type: 'boolean', const: true, description: "history on: stored in the user's stream (acked or not)" },
          epoch: EPOCH,
          offset: OFFSET,
          error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
        },
      },
    },
  },
};

const FANNED_OUT: Schema = {
  type: 'object',
  required: ['servers', 'recipients'],
  properties: { servers: { type: 'integer', description: 'servers that answered' }, recipients: { type: 'integer', description: 'connections written to' } },
};

const HISTORY_QUERY: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'a non-negative integer: only messages after this offset (default 0: the oldest held)' },
    epoch: { type: 'string', minLength: 1, maxLength: MAX_EPOCH_BYTES, description: `a non-empty string of at most ${MAX_EPOCH_BYTES} bytes: the epoch \`since\` belongs to; another epoch reads the stream from its start with recovered false` },
    limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_READ, description: `an integer between 1 and ${MAX_HISTORY_READ}: the most entries returned (default ${DEFAULT_HISTORY_LIMIT})` },
  },
};

const HISTORY_PAGE: Schema = {
  type: 'object',
  description: 'the stream now and its messages after `since`, oldest first; page on with since = the last offset returned',
  required: ['epoch', 'offset', 'recovered', 'entries'],
  properties: {
    epoch: EPOCH,
    offset: { type: 'integer', description: "the stream's last offset now (0: empty in this epoch)" },
    recovered: { type: 'boolean', description: 'every message after `since` (in `epoch`, when given) is still held: the first entry, if any, is since + 1' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['offset', 'id', 'body', 'at'],
        properties: { offset: OFFSET, id: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, body: ANY_JSON, from: { type: 'string' }, at: { type: 'integer', description: 'when it was stored (ms since 1970, the store\'s clock)' } },
      },
    },
  },
};

const ONLINE_USER: Schema = {
  type: 'object',
  required: ['user', 'server', 'since'],
  properties: { user: { type: 'string' }, server: { type: 'string', description: 'the server holding the user' }, since: { type: 'integer', description: 'epoch ms of the login' } },
};

const USER_PARAM: Schema = { type: 'object', required: ['user'], properties: { user: NAME } };
const OFFLINE = errorResponse('the user has no route: not logged in anywhere, as far as the routers know', ['FULCRUM_USER_OFFLINE']);
const GATEWAY = errorResponse("the user's server could not be reached over its gateway; Retry-After: 1", ['FULCRUM_GATEWAY_UNAVAILABLE']);

/** The core's errors as HTTP answers; anything else stays a 500. */
function toHttp(e: unknown): unknown {
  if (e instanceof HistoryUnavailableError) return new HistoryUnavailableHttpError(e.message, { cause: e });
  if (e instanceof UserOfflineError) return new UserOfflineHttpError(e.user, { cause: e });
  if (e instanceof PushTimeoutError) return new PushTimeoutHttpError(e.message, { cause: e });
  if (e instanceof GatewayUnavailableError) return new GatewayUnavailableHttpError(e.message, { cause: e });
  if (e instanceof MessageTooLargeError) return new PayloadTooLargeError(MAX_MESSAGE_BYTES, 'message (MessagePack-encoded)');
  return e;
}

async function answer<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    throw toHttp(e);
  }
}

/** Measured as it travels (MessagePack), not as JSON: the two differ, floats especially. A 413 before anything is sent. */
function checkMessage(message: unknown): void {
  if (pack(message).length > MAX_MESSAGE_BYTES) throw new PayloadTooLargeError(MAX_MESSAGE_BYTES, 'message');
}

/**
 * The messaging routes: push, publish, broadcast, online, kick. Everything is validated (auth
 * first, then the body) before the push client is asked to send anything; routing is its job.
 */
export function messagingRoutes(app: FastifyInstance, d: MessagingRoutesDeps): void {
  const bodyLimit = Math.max(1, d.maxBodyBytes ?? DEFAULT_MAX_MESSAGE_BODY_BYTES);
  const fromOf = (b: { from?: string }) => (b.from === undefined ? {} : { from: b.from });
  const history = d.push.history;
  const storeDown = history ? { 503: errorResponse("history on: the history store did not take the message (nothing was sent); Retry-After: 1", ['FULCRUM_HISTORY_UNAVAILABLE']) } : {};

  app.route<{ Body: PushBody }>({
    method: 'POST',
    url: '/push',
    bodyLimit,
    config: { metric: '/push' },
    schema: {
      summary: 'Deliver a message to one user or a list, and wait for the acks',
      body: PUSH,
      response: history
        ? {
            200: { description: 'acked (one user), or one result per user (a list)', anyOf: [PUSHED, PUSHED_MANY] },
            202: STORED,
            413: errorResponse(`the body is larger than ${bodyLimit} bytes, or the message does not fit a client frame`, ['FULCRUM_ALLOC_PAYLOAD_TOO_LARGE']),
            ...storeDown,
          }
        : {
            200: { description: 'acked (one user), or one result per user (a list)', anyOf: [PUSHED, PUSHED_MANY] },
            404: OFFLINE,
            413: errorResponse(`the body is larger than ${bodyLimit} bytes, or the message does not fit a client frame`, ['FULCRUM_ALLOC_PAYLOAD_TOO_LARGE']),
            503: GATEWAY,
            504: errorResponse('written to the connection but not acked within ackTimeoutMs', ['FULCRUM_PUSH_TIMEOUT']),
          },
    },
    handler: async (req, reply) => {
      const b = req.body;
      checkMessage(b.message);
      const opts = { ...(b.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: b.ackTimeoutMs }), ...fromOf(b) };
      if (b.users !== undefined) {
        const results = await d.push.pushMany(b.users, b.message, opts);
        return { total: results.length, acked: results.filter((r) => r.acked).length, results };
      }
      const r = await answer(d.push.push(b.user!, b.message, opts));
      if (!r.delivered) void reply.code(202);
      return r;
    },
  });

  app.route<{ Body: FanoutBody; Params: { room: string } }>({
    method: 'POST',
    url: '/rooms/:room/publish',
    bodyLimit,
    config: { metric: '/rooms/{room}/publish' },
    schema: {
      summary: 'Write a message to every member of a room on every server',
      params: { type: 'object', required: ['room'], properties: { room: NAME } },
      body: FANOUT,
      response: {
        200: {
          ...FANNED_OUT,
          required: ['room', 'servers', 'recipients', ...(history ? ['epoch', 'offset'] : [])],
          properties: { room: { type: 'string' }, ...(FANNED_OUT.properties as object), ...(history ? { epoch: EPOCH, offset: OFFSET } : {}) },
        },
        413: errorResponse(`the body is larger than ${bodyLimit} bytes, or the message does not fit a client frame`, ['FULCRUM_ALLOC_PAYLOAD_TOO_LARGE']),
        ...storeDown,
      },
    },
    handler: async (req) => {
      checkMessage(req.body.message);
      return { room: req.params.room, ...(await answer(d.push.publish(req.params.room, req.body.message, fromOf(req.body)))) };
    },
  });

  app.route<{ Body: FanoutBody }>({
    method: 'POST',
    url: '/broadcast',
    bodyLimit,
    config: { metric: '/broadcast' },
    schema: {
      summary: 'Write a message to every online user, once',
      body: FANOUT,
      response: {
        200: FANNED_OUT,
        413: errorResponse(`the body is larger than ${bodyLimit} bytes, or the message does not fit a client frame`, ['FULCRUM_ALLOC_PAYLOAD_TOO_LARGE']),
      },
    },
    handler: async (req) => {
      checkMessage(req.body.message);
      return answer(d.push.broadcast(req.body.message, fromOf(req.body)));
    },
  });

  app.route<{ Querystring: { prefix?: string; limit?: number } }>({
    method: ['GET', 'HEAD'],
    url: '/online',
    config: { metric: '/online' },
    schema: {
      summary: 'Online users sorted by name',
      querystring: {
        type: 'object',
        properties: {
          prefix: {
            type: 'string',
            maxLength: MAX_NAME_BYTES,
            [MAX_UTF8_BYTES]: MAX_NAME_BYTES,
            description: `a string of at most ${MAX_NAME_BYTES} UTF-8 bytes: only names starting with it (empty: everyone)`,
          },
          limit: { type: 'integer', minimum: 1, maximum: MAX_ONLINE_LIMIT, description: `an integer between 1 and ${MAX_ONLINE_LIMIT}: the most users listed (default 100)` },
        },
      },
      response: {
        200: {
          description: '`total` counts every match; `users` the first `limit` of them by name',
          type: 'object',
          required: ['total', 'users'],
          properties: { total: { type: 'integer' }, users: { type: 'array', items: ONLINE_USER } },
        },
      },
    },
    handler: async (req) => d.push.online({ ...(req.query.prefix ? { prefix: req.query.prefix } : {}), ...(req.query.limit === undefined ? {} : { limit: req.query.limit }) }),
  });

  app.route<{ Params: { user: string } }>({
    method: ['GET', 'HEAD'],
    url: '/online/:user',
    config: { metric: '/online/{user}' },
    schema: { summary: "A user's route", params: USER_PARAM, response: { 200: { ...ONLINE_USER, description: 'the user is online there' }, 404: OFFLINE } },
    handler: async (req) => {
      const r = d.push.route(req.params.user);
      if (!r) throw new UserOfflineHttpError(req.params.user);
      return r;
    },
  });

  if (history) historyRoutes(app, history);

  app.route<{ Params: { user: string } }>({
    method: 'DELETE',
    url: '/online/:user',
    config: { metric: '/online/{user}' },
    schema: {
      summary: 'Kick a user: it receives `kicked`, its connection closes, its route disappears',
      params: USER_PARAM,
      response: {
        200: {
          description: 'kicked',
          type: 'object',
          required: ['user', 'kicked', 'server'],
          properties: { user: { type: 'string' }, kicked: { type: 'boolean', const: true }, server: { type: 'string' } },
        },
        404: OFFLINE,
        503: GATEWAY,
      },
    },
    handler: async (req) => {
      const user = req.params.user;
      const r = d.push.route(user);
      const kicked = r !== undefined && (await answer(d.push.kick(user)));
      if (!kicked) throw new UserOfflineHttpError(user);
      return { user, kicked: true, server: r!.server };
    },
  });
}

interface HistoryQuery {
  since?: number;
  epoch?: string;
  limit?: number;
}

function readFrom(q: HistoryQuery): ReadFrom {
  const offset = q.since ?? 0;
  return q.epoch === undefined ? { offset } : { position: { epoch: q.epoch, offset } };
}

/** History on: a user's and a room's stored messages (admin token needed when a secret is set: they are the users' messages). */
function historyRoutes(app: FastifyInstance, history: HistoryEngine): void {
  const read = async (stream: StreamRef, q: HistoryQuery) => {
    const page = await answer(history.read(stream, { from: readFrom(q), limit: q.limit ?? DEFAULT_HISTORY_LIMIT }));
    return { epoch: page.epoch, offset: page.offset, recovered: page.recovered, entries: page.entries.map((e) => ({ offset: e.offset, id: e.id, body: e.body, ...(e.from === undefined ? {} : { from: e.from }), at: e.at })) };
  };
  const responses = (what: string) => ({
    200: { ...HISTORY_PAGE, required: [what, ...(HISTORY_PAGE.required as string[])], properties: { [what]: { type: 'string' }, ...(HISTORY_PAGE.properties as object) } },
    503: errorResponse('the history store did not answer; Retry-After: 1', ['FULCRUM_HISTORY_UNAVAILABLE']),
  });

  app.route<{ Params: { user: string }; Querystring: HistoryQuery }>({
    method: ['GET', 'HEAD'],
    url: '/history/:user',
    config: { metric: '/history/{user}', admin: true },
    schema: { summary: "A user's stream: the pushes and private messages stored for it", params: USER_PARAM, querystring: HISTORY_QUERY, response: responses('user') },
    handler: async (req) => ({ user: req.params.user, ...(await read(userStream(req.params.user), req.query)) }),
  });

  app.route<{ Params: { room: string }; Querystring: HistoryQuery }>({
    method: ['GET', 'HEAD'],
    url: '/rooms/:room/history',
    config: { metric: '/rooms/{room}/history', admin: true },
    schema: { summary: "A room's stream: its stored publications", params: { type: 'object', required: ['room'], properties: { room: NAME } }, querystring: HISTORY_QUERY, response: responses('room') },
    handler: async (req) => ({ room: req.params.room, ...(await read(roomStream(req.params.room), req.query)) }),
  });
}
