import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { pack } from 'msgpackr';
import { ClosedError, GatewayUnavailableError, InvalidArgumentError, MessageTooLargeError, PushTimeoutError, UserOfflineError, FulcrumError } from '../errors.js';
import { roomStream, userStream, type HistoryEngine, type StreamPosition } from './history/history-engine.js';
import { historyEngineOf, type HistoryOptions } from './history/history-options.js';
import { reportError } from '../log/report-error.js';
import type { Logger } from '../log/logger.js';
import { backoffDelay } from '../backoff.js';
import { mapConcurrent } from '../map-concurrent.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frames.js';
import { DELIVERY_CODES, KICK_REASONS, isName } from '../protocol/messages.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { ZkSession, type SupervisedSession } from '../zk/session.js';
import { GatewayDirectory } from './gateway/gateway-directory.js';
import { GatewayPool } from './gateway/gateway-pool.js';
import type { TlsClientOptions } from '../server/transport/tls-options.js';
import type { GatewayRequestBody, GatewayResult } from './gateway/gateway-protocol.js';
import { compareLogins, type LoginOrder } from './login-order.js';
import { routesRootOf, sameRoute } from './routes/route.js';
import { RouteLookup } from './routes/route-lookup.js';
import { DEFAULT_LOOKUP_TIMEOUT_MS, RouteTable } from './routes/route-table.js';
import type { RouteView } from './routes/route-view.js';
import { smallest } from './smallest.js';

/** How long a pushed message may wait for the client's ack. @default 5000 */
export const DEFAULT_ACK_TIMEOUT_MS = 5_000;
/** Extra time a gateway request gets beyond the ack timeout. */
const GATEWAY_SLACK_MS = 2_000;
/** History on: how long a stored message waits before its one retry of a gateway that failed. */
const GATEWAY_RETRY_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Room left in a client frame for the envelope around the body (type, id, from, room). */
const ENVELOPE_BYTES = 512;
/** The largest body a push, publish or broadcast can carry. */
export const MAX_MESSAGE_BYTES = DEFAULT_MAX_FRAME_BYTES - ENVELOPE_BYTES;

/** First wait before telling an unreachable server about a login again (doubling). */
const DEFAULT_PEER_RETRY_BASE_MS = 100;

/** A peer's `holder` answer, checked (it is another process's word). */
function loginOrderOf(h: unknown): LoginOrder | undefined {
  const o = h as Partial<LoginOrder> | undefined;
  return o && typeof o.since === 'number' && typeof o.server === 'string' && typeof o.seq === 'number' ? { since: o.since, server: o.server, seq: o.seq } : undefined;
}

function checkSize(message: unknown): void {
  const bytes = pack(message).length;
  if (bytes > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes, MAX_MESSAGE_BYTES);
}

/** `online()` returns at most this many users unless told otherwise. @default 100 */
export const DEFAULT_ONLINE_LIMIT = 100;
/** Pushes of one pushMany() in flight at once. @default 64 */
export const DEFAULT_PUSH_CONCURRENCY = 64;
/** Servers a publish or broadcast is sent to at once. @default 16 */
export const DEFAULT_FANOUT_CONCURRENCY = 16;
/** History on: how long a router keeps a stored push that found no one, to send it again when the user's route appears. @default 60000 */
export const DEFAULT_REDELIVERY_WINDOW_MS = 60_000;
/** History on: most users with such a push kept at once (the oldest go first). @default 10000 */
export const DEFAULT_MAX_REDELIVERIES = 10_000;

export interface RouterOptions {
  /** A connect string (the router owns its session) or a shared session. */
  zk: string | SupervisedSession;
  /** Servers root. @default DEFAULT_ROOT ('/fulcrum/servers') */
  root?: string;
  /** @default routesRootOf(root) ('/fulcrum/routes') */
  routesRoot?: string;
  /** The cluster secret; required to talk to gateways of servers that have one. */
  secret?: string;
  /** What to trust when a server's gateway speaks TLS (`gatewayTls` in its node): e.g. `{ ca }`. @default Node's CA roots */
  tls?: TlsClientOptions;
  /** @default DEFAULT_ACK_TIMEOUT_MS (5000) */
  ackTimeoutMs?: number;
  /** @default 2000 */
  gatewayConnectTimeoutMs?: number;
  /** @default DEFAULT_PUSH_CONCURRENCY (64) */
  pushConcurrency?: number;
  /** @default DEFAULT_FANOUT_CONCURRENCY (16) */
  fanoutConcurrency?: number;
  /** How long a push to a user without a route waits for the synced read of its shards (or, on demand, for the servers' answers). @default DEFAULT_LOOKUP_TIMEOUT_MS (1000) */
  lookupTimeoutMs?: number;
  /**
   * `watched`: keep the whole route table from ZooKeeper watches (an allocation service, an
   * application). `on-demand`: a bounded cache of routes asked of the servers (gateway `where`),
   * plus, in a server's router (`local`), its own users; nothing is read from the route shards,
   * and online() lists only the server's own users.
   * @default 'watched'
   */
  routes?: RouteViewKind;
  /** On demand: other servers' routes kept. @default DEFAULT_ROUTE_CACHE_SIZE (10000) */
  routeCacheSize?: number;
  /** A server using this router for its own routing handles its own requests in-process. */
  local?: LocalGateway;
  /** Where background failures (route reads, unreachable servers in a fan-out) go when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
  /**
   * Message history: every push and private message is stored in the user's stream, every room
   * publish in the room's, before it is delivered (see HistoryOptions). @default none
   */
  history?: HistoryOptions;
  /** History on: see DEFAULT_REDELIVERY_WINDOW_MS. @default 60000 */
  redeliveryWindowMs?: number;
}

/** A stored push that reached no one, kept for the user's route to appear. */
interface Redelivery {
  id: string;
  message: unknown;
  position: StreamPosition;
  opts: PushOptions;
  until: number;
}

export type RouteViewKind = 'watched' | 'on-demand';

/** In-process stand-in for one server's gateway. */
export interface LocalGateway {
  readonly server: string;
  handle(req: GatewayRequestBody): Promise<Omit<GatewayResult, 'type' | 'rid'>>;
  /** The login of `user` this server holds (what an on-demand route view knows without asking). */
  holder?(user: string): LoginOrder | undefined;
  /** Every user this server holds. */
  users?(): Iterable<[string, LoginOrder]>;
  userCount?(): number;
}

/** How long a server waits for the answer of another server it tells about a login (or asks). */
const PEER_REQUEST_TIMEOUT_MS = 5_000;
/** Tries of telling another server about a newer login while it cannot be reached (it stays registered). */
const PEER_TELL_ATTEMPTS = 6;

export interface PushOptions {
  /** @default the client's ackTimeoutMs */
  ackTimeoutMs?: number;
  /** While the user is offline or its server unreachable, wait this long for a new route. @default 0 */
  waitMs?: number;
  /** Sender shown to the receiver as `from`. */
  from?: string;
}

/** A push the client acknowledged. */
export interface DeliveredPush {
  delivered: true;
  acked: true;
  server: string;
  id: string;
  /** History on: the message's place in the user's stream. */
  epoch?: string;
  offset?: number;
}

/** History on: a push stored in the user's stream but not acked (offline, not acked in time, server unreachable); it arrives at the user's next login. */
export interface StoredPush {
  delivered: false;
  acked: false;
  stored: true;
  id: string;
  epoch: string;
  offset: number;
  /** Why it was not acked: FULCRUM_USER_OFFLINE, FULCRUM_PUSH_TIMEOUT or FULCRUM_GATEWAY_UNAVAILABLE. */
  code: string;
  /** The server it was written to, when it was (FULCRUM_PUSH_TIMEOUT). */
  server?: string;
}

export type PushResult = DeliveredPush | StoredPush;

export interface PushManyEntry {
  user: string;
  delivered: boolean;
  acked: boolean;
  server?: string;
  id?: string;
  /** History on: stored in the user's stream (acked or not). */
  stored?: true;
  epoch?: string;
  offset?: number;
  error?: { code: string; message: string };
}

export interface FanoutResult {
  /** Servers that answered. */
  servers: number;
  /** Connections the message was written to. */
  recipients: number;
  /** History on (room publishes): the message's place in the room's stream. */
  epoch?: string;
  offset?: number;
}

/** What a delivery that did not end in an ack means with a store: the message waits for the next login. */
function storedInstead(e: unknown): e is UserOfflineError | PushTimeoutError | GatewayUnavailableError {
  return e instanceof UserOfflineError || e instanceof PushTimeoutError || e instanceof GatewayUnavailableError;
}

export interface OnlineUser {
  user: string;
  server: string;
  since: number;
}

export interface OnlineQuery {
  prefix?: string;
  /** @default DEFAULT_ONLINE_LIMIT (100) */
  limit?: number;
}

/**
 * The router every server and the allocation service route through: reaches logged-in users from
 * any Node process without HTTP. Its view of the route table (from ZooKeeper watches, plus one
 * synced read when a user has no route) says which server holds a user, and the message goes
 * straight to that server's gateway over a persistent, authenticated connection. Never through
 * ZooKeeper.
 */
export class Router extends EventEmitter<{ error: [Error] }> {
  readonly session: SupervisedSession;
  readonly routes: RouteView;
  /** How this router knows routes (see RouterOptions.routes). */
  readonly view: RouteViewKind;
  readonly servers: GatewayDirectory;
  private readonly pool: GatewayPool;
  private readonly owned: ZkSession | undefined;
  /** The history store, when on. */
  readonly history: HistoryEngine | undefined;
  private readonly ownsHistory: boolean;
  /** History on: per user, the latest stored push that found no route or server; sent again when the user's route changes. */
  private readonly redeliveries = new Map<string, Redelivery>();
  /** Pushes sent again because the user's route appeared after they were stored. */
  redelivered = 0;
  private readonly tag = randomBytes(4).toString('hex');
  private counter = 0;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: RouterOptions) {
    super();
    const root = validateRoot(options.root ?? DEFAULT_ROOT);
    const routesRoot = validateRoot(options.routesRoot ?? routesRootOf(root));
    if (typeof options.zk === 'string') {
      this.owned = new ZkSession({ connect: options.zk, logger: options.logger });
      this.session = this.owned;
    } else {
      this.session = options.zk;
    }
    const forward = (e: Error) => this.report(e, {});
    this.servers = new GatewayDirectory({ session: this.session, root, onRemoved: (name) => this.pool.forget(name) });
    this.servers.on('error', forward);
    this.view = options.routes ?? 'watched';
    if (this.view === 'on-demand') {
      const local = options.local;
      if (local && (!local.holder || !local.users || !local.userCount)) throw InvalidArgumentError.format('local', "an 'on-demand' server router needs holder(), users() and userCount()");
      this.routes = new RouteLookup({
        server: local?.server ?? '',
        own: (user) => local?.holder!(user),
        ownUsers: () => local?.users!() ?? [],
        ownCount: () => local?.userCount!() ?? 0,
        ask: (user) => this.ask(user),
        cacheSize: options.routeCacheSize,
      });
    } else if (this.view === 'watched') {
      this.routes = new RouteTable({ session: this.session, routesRoot, lookupTimeoutMs: options.lookupTimeoutMs });
    } else throw InvalidArgumentError.format('routes', `must be 'watched' or 'on-demand', got ${JSON.stringify(this.view)}`);
    this.routes.on('error', forward);
    this.pool = new GatewayPool({ secret: options.secret, connectTimeoutMs: options.gatewayConnectTimeoutMs, tls: options.tls });
    const history = historyEngineOf(options.history);
    this.history = history?.engine;
    this.ownsHistory = history?.owned ?? false;
    if (this.history) this.routes.on('changed', (users) => this.routesChanged(users));
  }

  /**
   * History on: a stored push that found no one (no route, a stale one, an unreachable server)
   * waits for the user's next login — unless this router sees the user's route appear first (it
   * could not look it up in time: ZooKeeper away, a slow watch). Then it is sent again; the
   * user's server fills anything before it from the store.
   */
  private routesChanged(users: readonly string[]): void {
    const now = Date.now();
    for (const user of users) {
      const r = this.redeliveries.get(user);
      if (!r) continue;
      if (r.until < now) {
        this.redeliveries.delete(user);
        continue;
      }
      if (!this.routes.best(user)) continue;
      this.redelivered++;
      void this.pushStored(user, r.message, r.id, r.position, { ...r.opts, waitMs: 0 }).catch((e: unknown) => this.report(e instanceof Error ? e : new Error(String(e)), { op: 'redeliver', user }));
    }
  }

  private keepForRedelivery(user: string, r: Omit<Redelivery, 'until'>): void {
    const known = this.redeliveries.get(user);
    // The same one again (its redelivery found no one either) keeps its deadline; an older one is not kept over a newer.
    if (known && (known.id === r.id || (known.position.epoch === r.position.epoch && known.position.offset > r.position.offset))) return;
    this.redeliveries.delete(user);
    this.redeliveries.set(user, { ...r, until: Date.now() + (this.options.redeliveryWindowMs ?? DEFAULT_REDELIVERY_WINDOW_MS) });
    if (this.redeliveries.size > DEFAULT_MAX_REDELIVERIES) this.redeliveries.delete(this.redeliveries.keys().next().value!);
  }

  private report(e: Error, context: Record<string, unknown>): void {
    reportError(this, e, this.options.logger, { component: 'Router', ...context });
  }

  /** Loads the servers and the route table; every other method calls it. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('Router'));
    this.started ??= Promise.all([this.servers.start(), this.routes.start(), this.history?.start()]).then(() => {});
    return this.started;
  }

  /** A fresh message id (unique per process run). */
  nextId(): string {
    return `${this.tag}-${++this.counter}`;
  }

  /**
   * Delivers `message` to `user` and waits for the client's ack. Without history it rejects with
   * UserOfflineError (FULCRUM_USER_OFFLINE), PushTimeoutError (FULCRUM_PUSH_TIMEOUT: written, not
   * acked in time) or GatewayUnavailableError (FULCRUM_GATEWAY_UNAVAILABLE: its server could not be
   * reached). With history the message is first stored in the user's stream (HistoryUnavailableError
   * when it cannot be: nothing is sent), and those three outcomes resolve as a StoredPush instead.
   */
  async push(user: string, message: unknown, opts: PushOptions = {}): Promise<PushResult> {
    if (!isName(user)) throw InvalidArgumentError.format('user', 'must be a non-empty string of at most 128 bytes');
    checkSize(message);
    await this.start();
    const id = this.nextId();
    const position = this.history ? await this.history.append(userStream(user), { id, body: message, ...(opts.from !== undefined ? { from: opts.from } : {}) }) : undefined;
    return this.pushStored(user, message, id, position, opts);
  }

  /** Delivers one (possibly already stored) message; a stored one that is not acked resolves as StoredPush. */
  private async pushStored(user: string, message: unknown, id: string, position: StreamPosition | undefined, opts: PushOptions): Promise<PushResult> {
    try {
      const r = await this.deliverTo(user, message, id, position, opts);
      if (position && this.redeliveries.get(user)?.id === id) this.redeliveries.delete(user);
      return position ? { ...r, ...position } : r;
    } catch (e) {
      if (!position || !storedInstead(e)) throw e;
      if (!(e instanceof PushTimeoutError)) this.keepForRedelivery(user, { id, message, position, opts });
      return { delivered: false, acked: false, stored: true, id, ...position, code: e.code, ...(e instanceof PushTimeoutError ? { server: e.server } : {}) };
    }
  }

  private async deliverTo(user: string, message: unknown, id: string, position: StreamPosition | undefined, opts: PushOptions): Promise<DeliveredPush> {
    const ackTimeoutMs = opts.ackTimeoutMs ?? this.options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const deadline = Date.now() + (opts.waitMs ?? 0);
    // One synced read of the user's shards before answering offline: a route ZooKeeper acknowledged is found even if its watch has not arrived yet.
    let synced = false;
    // History on: a stored message that did not reach its user gets one more synced read before giving up. A login
    // whose replay read came before our append had its route stored before that read, so the read finds it.
    let resynced = position === undefined;
    // History on: a gateway that failed (a dropped connection, a restart) is tried once more before the message is left for the next login.
    let retriedGateway = position === undefined;
    let route = this.routes.best(user);
    for (let attempt = 0; ; attempt++) {
      if (!route && !synced) {
        synced = true;
        route = await this.routes.lookup(user);
      }
      let err: FulcrumError;
      if (!route) err = new UserOfflineError(user);
      else {
        try {
          const body: GatewayRequestBody = { type: 'deliver', user, id, body: message, ack: true, ackTimeoutMs, ...(opts.from !== undefined ? { from: opts.from } : {}), ...position };
          const r = await this.send(route.server, body, ackTimeoutMs + GATEWAY_SLACK_MS);
          if (r.ok) return { delivered: true, acked: true, server: route.server, id };
          if (r.code === DELIVERY_CODES.tooLarge) throw new MessageTooLargeError(pack(message).length, MAX_MESSAGE_BYTES);
          // Not acked in time, or the route was stale (the user just left or moved).
          err = r.code === DELIVERY_CODES.notAcked ? new PushTimeoutError(user, route.server, id, ackTimeoutMs) : new UserOfflineError(user);
        } catch (e) {
          if (!(e instanceof GatewayUnavailableError)) throw e;
          err = e;
        }
      }
      if (err instanceof PushTimeoutError && resynced) throw err;
      if (err instanceof GatewayUnavailableError && !retriedGateway) {
        retriedGateway = true;
        await sleep(GATEWAY_RETRY_MS);
        const again = this.routes.best(user);
        if (again === route || again === undefined) continue;
      }
      // A stale route (the user just moved) may already have been replaced: one immediate retry when it has.
      let next = this.routes.best(user);
      if (route !== undefined && sameRoute(next, route) && !synced) {
        synced = true;
        next = await this.routes.lookup(user, { force: true });
      }
      let moved = route !== undefined && next !== undefined && !sameRoute(next, route) && attempt === 0;
      const left = deadline - Date.now();
      if (!moved && left <= 0) {
        if (resynced) throw err;
        resynced = true;
        next = await this.routes.lookup(user, { force: true });
        moved = next !== undefined && (route === undefined || !sameRoute(next, route));
        if (!moved) throw err;
      }
      if (!moved) {
        await this.routes.waitForChange(user, Math.min(left, 250));
        next = this.routes.best(user);
      }
      route = next;
    }
  }

  /**
   * Pushes to many users, at most `pushConcurrency` at a time; one entry per user, in order, never
   * throwing for one user's failure. With history every message is stored first, the appends
   * pipelined.
   */
  async pushMany(users: readonly string[], message: unknown, opts: PushOptions = {}): Promise<PushManyEntry[]> {
    const ids = users.map(() => this.nextId());
    const from = opts.from !== undefined ? { from: opts.from } : {};
    const history = this.history;
    let stored: PromiseSettledResult<StreamPosition>[] | undefined;
    if (history) {
      // Stored first, all at once (one pipeline); a name or size the push would refuse is not stored.
      let fits = true;
      try {
        checkSize(message);
        await this.start();
      } catch {
        fits = false;
      }
      stored = await Promise.allSettled(users.map((user, i) => (fits && isName(user) ? history.append(userStream(user), { id: ids[i]!, body: message, ...from }) : Promise.reject(new Error('not stored')))));
    }
    return mapConcurrent(users, this.options.pushConcurrency ?? DEFAULT_PUSH_CONCURRENCY, async (user, i): Promise<PushManyEntry> => {
      try {
        const s = stored?.[i];
        let r: PushResult;
        if (s === undefined) r = await this.push(user, message, opts);
        else if (s.status === 'fulfilled') r = await this.pushStored(user, message, ids[i]!, s.value, opts);
        else r = await this.push(user, message, opts); // fails the way a single push fails (bad name, too large, store unavailable)
        if (!r.delivered) return { user, delivered: r.code === DELIVERY_CODES.notAcked, acked: false, stored: true, id: r.id, epoch: r.epoch, offset: r.offset, ...(r.server !== undefined ? { server: r.server } : {}), error: { code: r.code, message: `stored, not acked: ${r.code}` } };
        return { user, delivered: true, acked: true, server: r.server, id: r.id, ...(r.epoch !== undefined ? { stored: true as const, epoch: r.epoch, offset: r.offset } : {}) };
      } catch (e) {
        const code = e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL';
        const out: PushManyEntry = { user, delivered: e instanceof PushTimeoutError, acked: false, error: { code, message: (e as Error).message } };
        if (e instanceof PushTimeoutError) Object.assign(out, { server: e.server, id: e.id });
        return out;
      }
    });
  }

  /** Writes `message` to every member of `room` on every server (history on: stored in the room's stream first). */
  async publish(room: string, message: unknown, opts: { from?: string } = {}): Promise<FanoutResult> {
    if (!isName(room)) throw InvalidArgumentError.format('room', 'must be a non-empty string of at most 128 bytes');
    checkSize(message);
    await this.start();
    const id = this.nextId();
    const from = opts.from !== undefined ? { from: opts.from } : {};
    const position = this.history ? await this.history.append(roomStream(room), { id, body: message, ...from }) : undefined;
    const r = await this.fanout({ type: 'publish', id, body: message, room, ...from, ...position }, position !== undefined);
    return position ? { ...r, ...position } : r;
  }

  /** Writes `message` to every online user, once each (never stored: users offline miss it). */
  async broadcast(message: unknown, opts: { from?: string } = {}): Promise<FanoutResult> {
    checkSize(message);
    return this.fanout({ type: 'publish', id: this.nextId(), body: message, ...(opts.from !== undefined ? { from: opts.from } : {}) });
  }

  /** `retry`: a stored message is sent once more to a server whose gateway failed (its members would wait for the room's next message). */
  private async fanout(body: GatewayRequestBody, retry = false): Promise<FanoutResult> {
    await this.start();
    const names = this.servers.names().filter((n) => this.servers.get(n) !== undefined || n === this.options.local?.server);
    const results = await mapConcurrent(names, this.options.fanoutConcurrency ?? DEFAULT_FANOUT_CONCURRENCY, async (n) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.send(n, body, DEFAULT_ACK_TIMEOUT_MS);
        } catch (e) {
          if (retry && attempt === 0 && e instanceof GatewayUnavailableError && this.servers.has(n)) {
            await sleep(GATEWAY_RETRY_MS);
            continue;
          }
          // Counted out of `servers`; said once per fan-out and server, never dropped.
          this.report(e instanceof Error ? e : new Error(String(e)), { op: body.type, server: n });
          return undefined;
        }
      }
    });
    const answered = results.filter((r): r is GatewayResult => r !== undefined && r.ok);
    return { servers: answered.length, recipients: answered.reduce((n, r) => n + (r.recipients ?? 0), 0) };
  }

  /** Closes the user's connection with `kicked {reason}`; false when the user is not online. */
  async kick(user: string, reason: string = KICK_REASONS.kicked): Promise<boolean> {
    if (!isName(user)) throw InvalidArgumentError.format('user', 'must be a non-empty string of at most 128 bytes');
    await this.start();
    const route = await this.routes.lookup(user);
    if (!route) return false;
    const r = await this.send(route.server, { type: 'kick', user, reason }, DEFAULT_ACK_TIMEOUT_MS);
    return r.ok && r.kicked === true;
  }

  /** The user's route as the routers see it, or undefined when offline. Call start() first. */
  route(user: string): OnlineUser | undefined {
    const r = this.routes.best(user);
    return r && { user, server: r.server, since: r.since };
  }

  /** Online users sorted by name, filtered by prefix; `total` counts every match. Call start() first. */
  online(query: OnlineQuery = {}): { total: number; users: OnlineUser[] } {
    const prefix = query.prefix ?? '';
    const limit = Math.max(0, query.limit ?? DEFAULT_ONLINE_LIMIT);
    const { total, items } = smallest(this.routes.entries(prefix), limit, (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { total, users: items.map(([user, r]) => ({ user, server: r.server, since: r.since })) };
  }


  /**
   * The logins of `user` the other servers hold, asked of each (gateway `where`, at most
   * lookupTimeoutMs); servers that cannot be reached answer nothing.
   */
  async ask(user: string): Promise<LoginOrder[]> {
    await this.start();
    const self = this.options.local?.server;
    const timeoutMs = this.options.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
    const answers = await Promise.all(
      this.servers.names().filter((n) => n !== self).map((n) => this.send(n, { type: 'where', user }, timeoutMs).then((r) => loginOrderOf(r.holder), () => undefined)),
    );
    return answers.filter((a): a is LoginOrder => a !== undefined);
  }

  /** The latest login of `user` before a login here: the table's best route, or (on demand) asked of every other server. */
  async previousLogin(user: string): Promise<LoginOrder | undefined> {
    if (this.view === 'watched') return this.routes.best(user);
    let newest: LoginOrder | undefined;
    for (const a of await this.ask(user)) if (!newest || compareLogins(a, newest) > 0) newest = a;
    return newest;
  }

  /**
   * A login of `user` with `order` was welcomed here: the servers that may hold an older one drop
   * it — the previous holder (`previous`) with the whole table, every other server on demand (each
   * tried again while it stays registered and unreachable). Resolves with a newer login one of
   * them holds, if any: then this one must go (two logins at once settle on the newest).
   */
  async replaceElsewhere(user: string, order: LoginOrder, previous: LoginOrder | undefined): Promise<LoginOrder | undefined> {
    const self = this.options.local?.server;
    const targets = this.view === 'watched' ? (previous && previous.server !== self ? [previous.server] : []) : this.servers.names().filter((n) => n !== self);
    const attempts = this.view === 'watched' ? 1 : PEER_TELL_ATTEMPTS;
    const answers = await Promise.all(targets.map((n) => this.tell(n, user, order, attempts)));
    let newer: LoginOrder | undefined;
    for (const a of answers) if (a && compareLogins(a, order) > 0 && (!newer || compareLogins(a, newer) > 0)) newer = a;
    return newer;
  }

  private async tell(server: string, user: string, order: LoginOrder, attempts: number): Promise<LoginOrder | undefined> {
    const before = { since: order.since, server: order.server, seq: order.seq };
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.send(server, { type: 'kick', user, reason: KICK_REASONS.replaced, before }, PEER_REQUEST_TIMEOUT_MS);
        return loginOrderOf(r.holder);
      } catch (e) {
        if (!(e instanceof GatewayUnavailableError) || attempt >= attempts || this.closed || !this.servers.has(server)) throw e;
        await new Promise((r) => setTimeout(r, backoffDelay(attempt - 1, DEFAULT_PEER_RETRY_BASE_MS, PEER_REQUEST_TIMEOUT_MS)));
      }
    }
  }

  /** One request to a server's gateway (or the in-process one). */
  async send(server: string, body: GatewayRequestBody, timeoutMs: number): Promise<GatewayResult> {
    const local = this.options.local;
    if (local && local.server === server) return { type: 'result', rid: 0, ...(await local.handle(body)) };
    if (!this.servers.has(server)) throw new GatewayUnavailableError(server, 'not registered');
    const gw = this.servers.get(server);
    if (!gw) throw new GatewayUnavailableError(server, 'publishes no gateway');
    try {
      return await this.pool.request(server, gw.ip, gw.port, body, timeoutMs, gw.tls === true);
    } catch (e) {
      // Maybe restarted under the same name with a new gateway port: look again (rate-limited) for the next try.
      if (e instanceof GatewayUnavailableError) this.servers.refresh(server);
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    this.routes.close();
    this.servers.close();
    this.owned?.close();
    if (this.ownsHistory) void this.history!.close();
  }
}
