import type { Socket } from 'node:net';
import { FulcrumError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from '../protocol/frames.js';
import {
  BadFrameError,
  DELIVERY_CODES,
  KICK_REASONS,
  WIRE_ERRORS,
  parseClientFrame,
  type ClientFrame,
  type ErrorFrame,
  type KickedFrame,
  type MessageFrame,
  type MessageId,
  type SentFrame,
  type WelcomeFrame,
} from '../protocol/messages.js';
import type { GatewayRequestBody, GatewayResult } from './gateway/gateway-protocol.js';
import type { Router } from './router.js';
import { compareLogins, type LoginOrder } from './routes/route.js';
import type { RouteShards } from './routes/route-shards.js';
import { checkToken } from './token.js';

/** A socket closed on purpose is destroyed after this long if the peer does not close it. */
const LINGER_MS = 1_000;

interface Conn {
  socket: Socket;
  user: string | undefined;
  order: LoginOrder | undefined;
  rooms: Set<string>;
  acks: Map<MessageId, { resolve: (acked: boolean) => void; timer: NodeJS.Timeout }>;
  closing: boolean;
}

export interface UserSessionsOptions {
  /** This server's node name (routes name it). */
  server: () => string;
  /** Id sent in pongs and welcomes. */
  serverId: () => string;
  secret?: string;
  ackTimeoutMs: number;
  maxFrameBytes?: number;
  /** Told about every ping: the socket speaks fulcrum frames (the rebalancer may ask it to migrate). */
  onPing?: (socket: Socket, migrated: boolean) => void;
}

export interface MessagingStats {
  /** Logged-in users now. */
  users: number;
  logins: number;
  /** Connections closed with `kicked` (replaced or by an operator). */
  kicks: number;
  /** Logins refused (bad token) and sockets closed for bad frames. */
  refused: number;
  messages: number;
}

export type GatewayAnswer = Omit<GatewayResult, 'type' | 'rid'>;

/**
 * The server side of the messaging protocol: logins, the local user → connection map, rooms,
 * acks, and the answers to gateway requests. Routes go to RouteShards; lookups to the Router.
 */
export class UserSessions {
  private readonly users = new Map<string, Conn>();
  private readonly rooms = new Map<string, Set<Conn>>();
  private seq = 0;
  private deps: { shards: RouteShards; router: Router } | undefined;
  private waiting: Socket[] = [];
  readonly counters = { logins: 0, kicks: 0, refused: 0, messages: 0 };

  constructor(private readonly options: UserSessionsOptions) {}

  /** Sockets accepted before this are held (paused) until the route table is loaded. */
  attach(shards: RouteShards, router: Router): void {
    this.deps = { shards, router };
    router.routes.on('changed', (users) => this.onRoutesChanged(users));
    for (const s of this.waiting) if (!s.destroyed) s.resume();
    this.waiting = [];
  }

  get stats(): MessagingStats {
    return { users: this.users.size, ...this.counters };
  }

  get userCount(): number {
    return this.users.size;
  }

  /** The connection handler given to the ClusterServer. */
  handle(socket: Socket): void {
    socket.setNoDelay(true);
    const conn: Conn = { socket, user: undefined, order: undefined, rooms: new Set(), acks: new Map(), closing: false };
    const decoder = new FrameDecoder(this.options.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      if (conn.closing) return;
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        this.fatal(conn, WIRE_ERRORS.badFrame, (e as Error).message);
        return;
      }
      for (const m of frames) {
        if (conn.closing) return;
        let frame: ClientFrame;
        try {
          frame = parseClientFrame(m);
        } catch (e) {
          if (!(e instanceof BadFrameError)) throw e;
          this.fatal(conn, e.code, e.message);
          return;
        }
        this.onFrame(conn, frame);
      }
    });
    socket.once('close', () => this.onClose(conn));
    if (!this.deps) {
      socket.pause();
      this.waiting.push(socket);
    }
  }

  private write(conn: Conn, frame: object): void {
    if (!conn.socket.destroyed && conn.socket.writable) conn.socket.write(encodeFrame(frame));
  }

  /** An `error` frame, then close: only this socket. */
  private fatal(conn: Conn, code: string, message: string): void {
    this.counters.refused++;
    this.write(conn, { type: 'error', code, message } satisfies ErrorFrame);
    this.closeConn(conn);
  }

  private closeConn(conn: Conn): void {
    if (conn.closing) return;
    conn.closing = true;
    this.release(conn);
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), LINGER_MS).unref();
  }

  private onFrame(conn: Conn, frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        this.options.onPing?.(conn.socket, frame.migrated === true);
        this.write(conn, { type: 'pong', seq: frame.seq, id: this.options.serverId() });
        return;
      case 'login':
        this.login(conn, frame.user, frame.token);
        return;
      case 'ack': {
        const p = conn.acks.get(frame.id);
        if (p) {
          conn.acks.delete(frame.id);
          clearTimeout(p.timer);
          p.resolve(true);
        }
        return;
      }
      default:
        break;
    }
    if (conn.user === undefined) return this.fatal(conn, WIRE_ERRORS.notLoggedIn, `${frame.type} before login`);
    if (frame.type === 'join') {
      conn.rooms.add(frame.room);
      let set = this.rooms.get(frame.room);
      if (!set) this.rooms.set(frame.room, (set = new Set()));
      set.add(conn);
    } else if (frame.type === 'leave') {
      conn.rooms.delete(frame.room);
      this.leaveRoom(conn, frame.room);
    } else if (frame.type === 'send') {
      void this.sendPrivate(conn, frame.id, frame.to, frame.body);
    }
  }

  private leaveRoom(conn: Conn, room: string): void {
    const set = this.rooms.get(room);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.rooms.delete(room);
  }

  private login(conn: Conn, user: string, token: string | undefined): void {
    if (conn.user !== undefined) return this.fatal(conn, WIRE_ERRORS.alreadyLoggedIn, `already logged in as ${conn.user}`);
    if (this.options.secret !== undefined) {
      const problem = checkToken(this.options.secret, user, token);
      if (problem) return this.fatal(conn, problem, `login as ${user} refused: ${problem}`);
    }
    const { shards, router } = this.deps!;
    const server = this.options.server();
    const known = router.routes.best(user);
    const local = this.users.get(user);
    // Later than every login we know of for this user, whatever the clocks say: a re-login always wins.
    let since = Date.now();
    if (known && known.since >= since) since = known.since + 1;
    if (local?.order && local.order.since >= since) since = local.order.since + 1;
    const order: LoginOrder = { since, server, seq: ++this.seq };
    if (local) this.kick(local, KICK_REASONS.replaced);
    conn.user = user;
    conn.order = order;
    this.users.set(user, conn);
    shards.set(user, since, order.seq);
    this.counters.logins++;
    // Tell the previous holder at once rather than waiting for it to see our route.
    if (known && known.server !== server) void router.send(known.server, { type: 'kick', user, reason: KICK_REASONS.replaced, before: order }, 5_000).catch(() => {});
    this.write(conn, { type: 'welcome', user, server: this.options.serverId() } satisfies WelcomeFrame);
  }

  /** Drops the user's route and rooms (the connection is going). */
  private release(conn: Conn): void {
    for (const room of conn.rooms) this.leaveRoom(conn, room);
    conn.rooms.clear();
    for (const p of conn.acks.values()) {
      clearTimeout(p.timer);
      p.resolve(false);
    }
    conn.acks.clear();
    const user = conn.user;
    if (user !== undefined && this.users.get(user) === conn) {
      this.users.delete(user);
      this.deps?.shards.delete(user);
    }
  }

  private onClose(conn: Conn): void {
    conn.closing = true;
    this.release(conn);
  }

  private kick(conn: Conn, reason: string): void {
    if (conn.closing) return;
    this.counters.kicks++;
    this.write(conn, { type: 'kicked', reason } satisfies KickedFrame);
    this.closeConn(conn);
  }

  /** A newer login elsewhere replaces ours: kick the local connection. */
  private onRoutesChanged(users: readonly string[]): void {
    const server = this.options.server();
    for (const user of users) {
      const conn = this.users.get(user);
      if (!conn?.order) continue;
      const best = this.deps!.router.routes.best(user);
      if (best && best.server !== server && compareLogins(conn.order, best) < 0) this.kick(conn, KICK_REASONS.replaced);
    }
  }

  private async sendPrivate(conn: Conn, id: MessageId, to: string, body: unknown): Promise<void> {
    let sent: SentFrame;
    try {
      await this.deps!.router.push(to, body, { from: conn.user, ackTimeoutMs: this.options.ackTimeoutMs });
      sent = { type: 'sent', id, delivered: true };
    } catch (e) {
      sent = { type: 'sent', id, delivered: false, code: e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL' };
    }
    this.write(conn, sent);
  }

  /** The encoded `message` frame, or undefined when a client could not accept it (over the frame limit). */
  private encodeMessage(frame: MessageFrame): Buffer | undefined {
    const bytes = encodeFrame(frame);
    return bytes.length - 4 > DEFAULT_MAX_FRAME_BYTES ? undefined : bytes;
  }

  private deliver(conn: Conn, bytes: Buffer): void {
    this.counters.messages++;
    if (!conn.socket.destroyed && conn.socket.writable) conn.socket.write(bytes);
  }

  private waitAck(conn: Conn, id: MessageId, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        conn.acks.delete(id);
        resolve(false);
      }, timeoutMs);
      conn.acks.set(id, { resolve, timer });
    });
  }

  /** Answers a gateway request (from a peer, or from this server's own router). */
  async handleGateway(req: GatewayRequestBody): Promise<GatewayAnswer> {
    if (req.type === 'deliver') {
      const conn = this.users.get(req.user);
      if (!conn || conn.closing) return { ok: false, code: DELIVERY_CODES.offline };
      const bytes = this.encodeMessage({ type: 'message', id: req.id, body: req.body, ...(req.from !== undefined ? { from: req.from } : {}) });
      if (!bytes) return { ok: false, code: DELIVERY_CODES.tooLarge };
      const acked = req.ack ? this.waitAck(conn, req.id, req.ackTimeoutMs ?? this.options.ackTimeoutMs) : undefined;
      this.deliver(conn, bytes);
      if (!acked) return { ok: true };
      return (await acked) ? { ok: true, acked: true } : { ok: false, code: DELIVERY_CODES.notAcked };
    }
    if (req.type === 'publish') {
      const targets = req.room === undefined ? [...this.users.values()] : [...(this.rooms.get(req.room) ?? [])];
      // Encoded once for every recipient.
      const bytes = this.encodeMessage({ type: 'message', id: req.id, body: req.body, ...(req.from !== undefined ? { from: req.from } : {}), ...(req.room !== undefined ? { room: req.room } : {}) });
      if (!bytes) return { ok: false, code: DELIVERY_CODES.tooLarge };
      let n = 0;
      for (const c of targets) {
        if (c.closing) continue;
        this.deliver(c, bytes);
        n++;
      }
      return { ok: true, recipients: n };
    }
    const conn = this.users.get(req.user);
    if (!conn?.order || conn.closing) return { ok: true, kicked: false };
    if (req.before && compareLogins(conn.order, req.before) >= 0) return { ok: true, kicked: false };
    this.kick(conn, req.reason);
    return { ok: true, kicked: true };
  }
}
