import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayUnavailableError, MessageTooLargeError, PushTimeoutError, UserOfflineError } from '../errors.js';
import type { Router } from '../messaging/router.js';
import { requireAdmin } from './admin-auth.js';
import { GatewayUnavailableHttpError, PayloadTooLargeError, PushTimeoutHttpError, UserOfflineHttpError } from './http-errors.js';
import { MAX_MESSAGE_BYTES } from '../messaging/router.js';
import { readJsonBody, sendJson } from './http-io.js';
import { parseFanout, parseName, parseOnline, parsePush } from './messaging-request.js';
import { parseQuery, singleParam } from './request-target.js';

/** Largest body of push / publish / broadcast: a list of 1,000 users plus a message near the frame limit. */
export const DEFAULT_MAX_MESSAGE_BODY_BYTES = 256 * 1024;

export interface MessagingApiOptions {
  push: Router;
  /** When set, the mutating endpoints need `Authorization: Bearer <adminToken(secret) or secret>`. */
  secret?: string;
  /** @default DEFAULT_MAX_MESSAGE_BODY_BYTES (256 KiB) */
  maxBodyBytes?: number;
}

/** The core's errors as HTTP answers; anything else stays a 500. */
function toHttp(e: unknown): unknown {
  if (e instanceof UserOfflineError) return new UserOfflineHttpError(e.user, { cause: e });
  if (e instanceof PushTimeoutError) return new PushTimeoutHttpError(e.message, { cause: e });
  if (e instanceof GatewayUnavailableError) return new GatewayUnavailableHttpError(e.message, { cause: e });
  if (e instanceof MessageTooLargeError) return new PayloadTooLargeError(MAX_MESSAGE_BYTES, 'message (MessagePack-encoded)');
  return e;
}

/**
 * The messaging routes of the allocation service. Each one validates everything (auth first,
 * then the body) before the push client is asked to send anything; routing is the push client's.
 */
export class MessagingApi {
  private readonly push: Router;
  private readonly secret: string | undefined;
  private readonly maxBodyBytes: number;

  constructor(options: MessagingApiOptions) {
    this.push = options.push;
    this.secret = options.secret;
    this.maxBodyBytes = Math.max(1, options.maxBodyBytes ?? DEFAULT_MAX_MESSAGE_BODY_BYTES);
  }

  /** POST /push `{user, message}` or `{users: [...], message}`. */
  async pushTo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireAdmin(req, this.secret);
    const p = parsePush(await readJsonBody(req, this.maxBodyBytes));
    const opts = { ...(p.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: p.ackTimeoutMs }), ...(p.from === undefined ? {} : { from: p.from }) };
    if (p.many) {
      const results = await this.push.pushMany(p.users, p.message, opts);
      sendJson(res, 200, { total: results.length, acked: results.filter((r) => r.acked).length, results });
      return;
    }
    try {
      sendJson(res, 200, await this.push.push(p.users[0]!, p.message, opts));
    } catch (e) {
      throw toHttp(e);
    }
  }

  /** POST /rooms/{room}/publish `{message}`. */
  async publish(req: IncomingMessage, res: ServerResponse, rawRoom: string): Promise<void> {
    requireAdmin(req, this.secret);
    const room = parseName(rawRoom, 'room');
    const f = parseFanout(await readJsonBody(req, this.maxBodyBytes));
    try {
      sendJson(res, 200, { room, ...(await this.push.publish(room, f.message, f.from === undefined ? {} : { from: f.from })) });
    } catch (e) {
      throw toHttp(e);
    }
  }

  /** POST /broadcast `{message}`: every online user, once. */
  async broadcast(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireAdmin(req, this.secret);
    const f = parseFanout(await readJsonBody(req, this.maxBodyBytes));
    try {
      sendJson(res, 200, await this.push.broadcast(f.message, f.from === undefined ? {} : { from: f.from }));
    } catch (e) {
      throw toHttp(e);
    }
  }

  /** GET /online[?prefix=&limit=] */
  online(res: ServerResponse, rawQuery: string): void {
    const q = parseQuery(rawQuery);
    sendJson(res, 200, this.push.online(parseOnline(singleParam(q, 'prefix'), singleParam(q, 'limit'))));
  }

  /** GET /online/{user} */
  route(res: ServerResponse, rawUser: string): void {
    const user = parseName(rawUser, 'user');
    const r = this.push.route(user);
    if (!r) throw new UserOfflineHttpError(user);
    sendJson(res, 200, r);
  }

  /** DELETE /online/{user}: the user gets `kicked` and is closed; its route goes with it. */
  async kick(req: IncomingMessage, res: ServerResponse, rawUser: string): Promise<void> {
    requireAdmin(req, this.secret);
    const user = parseName(rawUser, 'user');
    const r = this.push.route(user);
    let kicked: boolean;
    try {
      kicked = r !== undefined && (await this.push.kick(user));
    } catch (e) {
      throw toHttp(e);
    }
    if (!kicked) throw new UserOfflineHttpError(user);
    sendJson(res, 200, { user, kicked: true, server: r!.server });
  }
}
