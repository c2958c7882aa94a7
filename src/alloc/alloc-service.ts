import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { BalanceProvider } from '../balancing/balance-provider.js';
import { hash } from '../balancing/index.js';
import { DEFAULT_PENDING_TTL_MS } from '../balancing/pending-picks.js';
import { type Strategy } from '../balancing/strategy.js';
import { getStrategy } from '../balancing/strategy-registry.js';
import { ServerCache } from '../discovery/server-cache.js';
import { addressOf, type Snapshot } from '../discovery/snapshot.js';
import { FulcrumError, InvalidArgumentError, NoServersError } from '../errors.js';
import { ListenError } from '../server/cluster-server.js';
import { validateRoot } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { Router } from '../messaging/router.js';
import { DEFAULT_TOKEN_TTL_MS, issueToken } from '../messaging/token.js';
import { AllocMetrics, type MetricRoute } from './alloc-metrics.js';
import { allocList, spreadOf, summarize, totalConnections } from './cluster-view.js';
import { DASHBOARD_CSP, DASHBOARD_HTML } from './dashboard.js';
import { EventStream } from './event-stream.js';
import {
  DEFAULT_HEARTBEAT_TTL_MS,
  MAX_HEARTBEAT_TTL_MS,
  MIN_HEARTBEAT_TTL_MS,
  parseAddress,
  parseEndpoint,
  parseHeartbeat,
  serverName,
} from './heartbeat-request.js';
import { HEARTBEAT_ID_PREFIX, HeartbeatRegistry } from './heartbeat-registry.js';
import {
  BadRequestError,
  MethodNotAllowedError,
  NoServerAvailableError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyStreamsError,
} from './http-errors.js';
import { DEFAULT_MAX_BODY_BYTES, readJsonBody, sendError, sendJson, sendText, toHttpError } from './http-io.js';
import { parseQuery, parseTarget, singleParam } from './request-target.js';
import { DEFAULT_MAX_MESSAGE_BODY_BYTES, MessagingApi } from './messaging-api.js';
import { parseName } from './messaging-request.js';

export const DEFAULT_ALLOC_PORT = 9999;
export const DEFAULT_ALLOC_HOST = '127.0.0.1';
/**
 * `least`: this one process makes every hand-out and counts each as a reservation, so it knows
 * the true load and the exact minimum is the best answer (p2c's randomness is for many pickers
 * that cannot see each other's picks).
 */
export const DEFAULT_ALLOC_STRATEGY = 'least';
/** How long a hand-out counts against its server if the client never connects. */
export const DEFAULT_RESERVATION_TTL_MS = DEFAULT_PENDING_TTL_MS;
/** A request (headers and body) must arrive within this; slow-loris clients are cut off. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Longest `?key=` for sticky allocation. */
export const MAX_ALLOC_KEY_LENGTH = 256;

export interface AllocServiceOptions {
  /** Supervised session; started if needed, never closed by the service. */
  session: ZkSession;
  /** Parent of the server nodes, e.g. '/fulcrum/servers'. */
  root: string;
  /** 0 picks a free port. @default DEFAULT_ALLOC_PORT (9999) */
  port?: number;
  /** @default DEFAULT_ALLOC_HOST ('127.0.0.1') */
  host?: string;
  /** Registered strategy for /allocate without a key. @default DEFAULT_ALLOC_STRATEGY ('least') */
  strategy?: string;
  /** @default DEFAULT_RESERVATION_TTL_MS (5000) */
  reservationTtlMs?: number;
  /** TTL of a heartbeat that names none. @default DEFAULT_HEARTBEAT_TTL_MS (10000) */
  heartbeatTtlMs?: number;
  /** @default DEFAULT_MAX_HEARTBEAT_SERVERS (1000) */
  maxHeartbeatServers?: number;
  /** @default DEFAULT_MAX_BODY_BYTES (16 KiB) */
  maxBodyBytes?: number;
  /** @default DEFAULT_SSE_MIN_INTERVAL_MS (100) */
  sseMinIntervalMs?: number;
  /** @default DEFAULT_SSE_HEARTBEAT_MS (15000) */
  sseHeartbeatMs?: number;
  /** @default DEFAULT_MAX_SSE_CLIENTS (1000) */
  maxSseClients?: number;
  /** Process metrics in /metrics. @default true */
  defaultMetrics?: boolean;
  /** Where background errors (server cache, heartbeat registrations) and 500 answers are logged. @default defaultLogger() */
  logger?: Logger;
  /**
   * The cluster's messaging secret (what the servers got as FULCRUM_SECRET). With it, `/allocate?user=U`
   * also returns a login token, the service can reach gateways that demand the secret, and push,
   * publish, broadcast and kick need `Authorization: Bearer <adminToken(secret)>` (or the secret).
   * @default none: no tokens, and the messaging endpoints are open to whoever reaches the service
   */
  secret?: string;
  /** Lifetime of the tokens `/allocate?user=` issues. @default DEFAULT_TOKEN_TTL_MS (1 h) */
  tokenTtlMs?: number;
  /** Largest body of push / publish / broadcast. @default DEFAULT_MAX_MESSAGE_BODY_BYTES (256 KiB) */
  maxMessageBodyBytes?: number;
  /** How long a push waits for the client's ack unless the request says. @default the push client's (5000) */
  pushAckTimeoutMs?: number;
}

export interface AllocAddress {
  host: string;
  port: number;
  /** e.g. `http://127.0.0.1:9999/` */
  url: string;
}

/** One server as `GET /servers` lists it. */
export interface ServerListing {
  name: string;
  ip: string;
  port: number;
  address: string;
  balance: number;
  /** Hand-outs of this service not yet reported by the server. */
  pending: number;
  maxConnections: number | null;
  draining: boolean;
  /** Epoch ms of the server's last write, when it publishes one. */
  updatedAt: number | null;
  startedAt: number | null;
  /** 'heartbeat' for servers registered over HTTP, 'native' for ZooKeeper clients. */
  source: 'heartbeat' | 'native';
  /** Present for heartbeat servers held by this service instance. */
  heartbeat?: { ttlMs: number; expiresAt: number; lastHeartbeatAt: number };
}

type Handler = (req: IncomingMessage, res: ServerResponse, rawQuery: string) => Promise<void> | void;

interface Route {
  metric: MetricRoute;
  methods: Record<string, Handler>;
}

/**
 * The allocation service: an HTTP front of the watch-driven server cache. Every answer comes
 * from memory (no ZooKeeper read per request), so it keeps serving its last good picture while
 * ZooKeeper is away. It also holds heartbeat registrations for servers that cannot speak
 * ZooKeeper, and exposes a dashboard, an event stream and Prometheus metrics.
 */
export class AllocService {
  readonly cache: ServerCache;
  readonly provider: BalanceProvider;
  readonly heartbeats: HeartbeatRegistry;
  readonly metrics: AllocMetrics;
  readonly events: EventStream;
  /** Routes and gateways for the messaging endpoints (the routers' view of the route table). */
  readonly push: Router;
  private readonly messaging: MessagingApi;
  private readonly secret: string | undefined;
  private readonly tokenTtlMs: number;
  /** Bumped on every route-table change, so the dashboard knows when to fetch /online again. */
  private onlineVersion = 0;
  private readonly session: ZkSession;
  private readonly log: Logger;
  private readonly root: string;
  private readonly host: string;
  private readonly port: number;
  private readonly strategyName: string;
  private readonly defaultTtlMs: number;
  private readonly maxBodyBytes: number;
  private readonly server: http.Server;
  private readonly routes: Map<string, Route>;
  private bound: AllocAddress | undefined;
  private closing: Promise<void> | undefined;

  private readonly onSnapshot = () => this.events.notify();
  private readonly onStatus = () => this.events.notify();
  private readonly onRoutes = () => {
    this.onlineVersion++;
    this.events.notify();
  };
  private readonly onBackgroundError = (e: Error) => {
    const code = e instanceof FulcrumError ? e.code : 'FULCRUM_UNKNOWN';
    this.countError(code);
    this.log.error({ err: e, code }, e.message);
  };

  /** Adds (on start) or removes (on close) the listeners this service keeps on its cache, heartbeats and session. */
  private subscribe(on: boolean): void {
    const pairs: [EventEmitter, string, (...args: never[]) => void][] = [
      [this.cache, 'snapshot', this.onSnapshot],
      [this.cache, 'error', this.onBackgroundError],
      [this.heartbeats, 'error', this.onBackgroundError],
      [this.push.routes, 'changed', this.onRoutes],
      [this.push.routes, 'error', this.onBackgroundError],
      [this.session, 'disconnected', this.onStatus],
      [this.session, 'reconnected', this.onStatus],
      [this.session, 'session', this.onStatus],
    ];
    for (const [emitter, event, fn] of pairs) {
      if (on) emitter.on(event, fn as (...args: unknown[]) => void);
      else emitter.off(event, fn as (...args: unknown[]) => void);
    }
  }

  constructor(options: AllocServiceOptions) {
    this.log = options.logger ?? defaultLogger();
    this.session = options.session;
    this.root = validateRoot(options.root);
    this.host = options.host ?? DEFAULT_ALLOC_HOST;
    if (typeof this.host !== 'string' || this.host.trim() === '') throw InvalidArgumentError.format('host', 'must be a non-empty address');
    this.port = options.port ?? DEFAULT_ALLOC_PORT;
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65535) throw InvalidArgumentError.format('port', `must be 0-65535, got ${this.port}`);
    this.strategyName = options.strategy ?? DEFAULT_ALLOC_STRATEGY;
    const base = getStrategy(this.strategyName); // a bad name fails here, not at the first request
    // A keyed request is sticky (consistent hash); the rest use the configured strategy. One
    // provider for both, so every hand-out lands in the same reservation book.
    const strategy: Strategy = (candidates, snapshot, ctx) => (ctx.key !== undefined ? hash : base)(candidates, snapshot, ctx);
    const ttl = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    if (!(Number.isFinite(ttl) && ttl > 0)) throw InvalidArgumentError.format('reservationTtlMs', `must be positive, got ${ttl}`);
    this.defaultTtlMs = options.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
    if (!Number.isInteger(this.defaultTtlMs) || this.defaultTtlMs < MIN_HEARTBEAT_TTL_MS || this.defaultTtlMs > MAX_HEARTBEAT_TTL_MS) {
      throw InvalidArgumentError.format('heartbeatTtlMs', `must be an integer between ${MIN_HEARTBEAT_TTL_MS} and ${MAX_HEARTBEAT_TTL_MS}, got ${this.defaultTtlMs}`);
    }
    this.maxBodyBytes = Math.max(1, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);

    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret.length === 0)) throw InvalidArgumentError.format('secret', 'must be a non-empty string');
    this.secret = options.secret;
    this.tokenTtlMs = options.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
    if (!(Number.isFinite(this.tokenTtlMs) && this.tokenTtlMs > 0)) throw InvalidArgumentError.format('tokenTtlMs', `must be positive, got ${this.tokenTtlMs}`);
    this.cache = new ServerCache({ session: this.session, root: this.root });
    this.push = new Router({ zk: this.session, root: this.root, secret: this.secret, ackTimeoutMs: options.pushAckTimeoutMs });
    this.messaging = new MessagingApi({ push: this.push, secret: this.secret, maxBodyBytes: options.maxMessageBodyBytes ?? DEFAULT_MAX_MESSAGE_BODY_BYTES });
    this.provider = new BalanceProvider({ source: this.cache, strategy, pending: true, pendingTtlMs: ttl, root: this.root });
    this.heartbeats = new HeartbeatRegistry({ session: this.session, root: this.root, maxServers: options.maxHeartbeatServers });
    this.events = new EventStream({
      payload: () => this.eventPayload(),
      minIntervalMs: options.sseMinIntervalMs,
      heartbeatMs: options.sseHeartbeatMs,
      maxClients: options.maxSseClients,
    });
    this.metrics = new AllocMetrics(
      {
        snapshot: () => this.cache.current(),
        cacheStats: () => this.cache.stats,
        pending: () => this.reservations(this.cache.current()),
        zkConnected: () => this.session.isConnected,
        heartbeatServers: () => this.heartbeats.size,
        heartbeatExpired: () => this.heartbeats.expiredCount,
        sseClients: () => this.events.clients,
        onlineUsers: () => this.push.routes.size,
      },
      { defaultMetrics: options.defaultMetrics },
    );
    this.routes = this.buildRoutes();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.requestTimeout = DEFAULT_REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = Math.min(this.server.headersTimeout, DEFAULT_REQUEST_TIMEOUT_MS);
    this.server.on('clientError', (err, socket) => this.onClientError(err, socket as Socket));
  }

  /** Where the service listens, once started. */
  get address(): AllocAddress | undefined {
    return this.bound;
  }

  /** Loads the first picture of the cluster, then listens. */
  async start(): Promise<AllocAddress> {
    if (this.bound) return this.bound;
    await this.session.start();
    this.subscribe(true);
    try {
      await this.cache.start();
      await this.push.start();
    } catch (e) {
      await this.close();
      throw e;
    }
    try {
      this.server.listen({ host: this.host, port: this.port });
      await once(this.server, 'listening');
    } catch (cause) {
      await this.close();
      throw new ListenError(`${this.host}:${this.port}`, { cause });
    }
    const { port } = this.server.address() as AddressInfo;
    const shown = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.bound = { host: this.host, port, url: `http://${shown}:${port}/` };
    return this.bound;
  }

  // ---- dispatch -----------------------------------------------------------------------------

  private buildRoutes(): Map<string, Route> {
    const page: Handler = (_req, res) => sendText(res, 200, 'text/html; charset=utf-8', DASHBOARD_HTML, { 'Content-Security-Policy': DASHBOARD_CSP });
    const read = (h: Handler): Record<string, Handler> => ({ GET: h, HEAD: h });
    return new Map<string, Route>([
      ['/', { metric: '/', methods: read((req, res, q) => (wantsHtml(req) ? page(req, res, q) : this.list(res))) }],
      ['/index.html', { metric: '/index.html', methods: read(page) }],
      ['/servers', { metric: '/servers', methods: read((_req, res) => sendJson(res, 200, this.listing())) }],
      ['/allocate', { metric: '/allocate', methods: { GET: (_req, res, q) => this.allocate(res, q) } }],
      ['/metrics', { metric: '/metrics', methods: read((_req, res) => this.renderMetrics(res)) }],
      ['/events', { metric: '/events', methods: { GET: (req, res) => this.stream(req, res) } }],
      ['/healthz', { metric: '/healthz', methods: read((_req, res) => sendJson(res, 200, this.health())) }],
      ['/register', { metric: '/register', methods: { POST: (req, res) => this.register(req, res) } }],
      ['/unregister', { metric: '/unregister', methods: { POST: (req, res) => this.unregisterBody(req, res) } }],
      ['/push', { metric: '/push', methods: { POST: (req, res) => this.messaging.pushTo(req, res) } }],
      ['/broadcast', { metric: '/broadcast', methods: { POST: (req, res) => this.messaging.broadcast(req, res) } }],
      ['/online', { metric: '/online', methods: read((_req, res, q) => this.messaging.online(res, q)) }],
    ]);
  }

  /** Exact routes first, then the ones with a parameter in the path. */
  private route(path: string): { route: Route; pattern?: string } | undefined {
    const exact = this.routes.get(path);
    if (exact) return { route: exact };
    if (path.startsWith('/register/') && path.length > '/register/'.length) {
      const param = path.slice('/register/'.length);
      return { route: { metric: '/register', methods: { DELETE: (_req, res) => this.unregisterPath(res, param) } }, pattern: '/register/{ip}:{port}' };
    }
    if (path.startsWith('/online/')) {
      const user = path.slice('/online/'.length);
      const get: Handler = (_req, res) => this.messaging.route(res, user);
      return { route: { metric: '/online/{user}', methods: { GET: get, HEAD: get, DELETE: (req, res) => this.messaging.kick(req, res, user) } }, pattern: '/online/{user}' };
    }
    if (path.startsWith('/rooms/') && path.endsWith('/publish')) {
      const room = path.slice('/rooms/'.length, -'/publish'.length);
      return { route: { metric: '/rooms/{room}/publish', methods: { POST: (req, res) => this.messaging.publish(req, res, room) } }, pattern: '/rooms/{room}/publish' };
    }
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let metric: MetricRoute = 'other';
    res.once('close', () => this.metrics.httpRequests.inc({ route: metric, status: String(res.statusCode) }));
    let run: Promise<void>;
    try {
      const { path, rawQuery } = parseTarget(req.url);
      const found = this.route(path);
      if (!found) throw new NotFoundError(`route ${req.method ?? ''} ${path}`);
      metric = found.route.metric;
      const method = req.method ?? 'GET';
      const handler = Object.hasOwn(found.route.methods, method) ? found.route.methods[method] : undefined;
      if (!handler) throw new MethodNotAllowedError(method, found.pattern ?? path, Object.keys(found.route.methods));
      run = Promise.resolve(handler(req, res, rawQuery));
    } catch (e) {
      run = Promise.reject(e);
    }
    run.catch((e: unknown) => {
      const err = toHttpError(e);
      this.countError(err.code);
      if (err.status === 500) this.log.error({ err: e, code: err.code, url: req.url }, `request failed: ${err.message}`);
      // An unread (too large) body would otherwise be drained from a keep-alive socket.
      sendError(res, err, err instanceof PayloadTooLargeError || !req.complete);
    });
  }

  private countError(code: string): void {
    this.metrics.errors.inc({ code });
  }

  /** Malformed HTTP never reaches a handler; answer it in JSON too, then drop the socket. */
  private onClientError(err: Error & { code?: string }, socket: Socket): void {
    this.countError('FULCRUM_ALLOC_BAD_HTTP');
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooBig = err.code === 'HPE_HEADER_OVERFLOW';
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = tooBig ? '431 Request Header Fields Too Large' : timeout ? '408 Request Timeout' : '400 Bad Request';
    const error = tooBig
      ? { code: 'FULCRUM_ALLOC_HEADERS_TOO_LARGE', message: 'request headers too large' }
      : timeout
        ? { code: 'FULCRUM_ALLOC_REQUEST_TIMEOUT', message: 'request not received in time' }
        : { code: 'FULCRUM_ALLOC_BAD_HTTP', message: 'malformed HTTP request' };
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  // ---- routes -------------------------------------------------------------------------------

  /** GET /: the classic `ip:port,ip:port` list, least-loaded first. */
  private list(res: ServerResponse): void {
    const snap = this.cache.current();
    sendText(res, 200, 'text/plain; charset=utf-8', allocList(snap, this.reservations(snap)), { Vary: 'Accept' });
  }

  private listing(): ServerListing[] {
    const snap = this.cache.current();
    const pending = this.reservations(snap);
    return snap.servers.map((s) => {
      const hb = this.heartbeats.info(s.name);
      return {
        name: s.name,
        ip: s.ip,
        port: s.port,
        address: addressOf(s),
        balance: s.balance,
        pending: pending.get(s.name) ?? 0,
        maxConnections: s.maxConnections ?? null,
        draining: s.draining === true,
        updatedAt: s.updatedAt ?? null,
        startedAt: s.startedAt ?? null,
        source: s.id?.startsWith(HEARTBEAT_ID_PREFIX) ? 'heartbeat' : 'native',
        ...(hb ? { heartbeat: { ttlMs: hb.ttlMs, expiresAt: hb.expiresAt, lastHeartbeatAt: hb.lastHeartbeatAt } } : {}),
      };
    });
  }

  /**
   * GET /allocate[?key=…][&user=U]: one server for this caller, counted as a reservation until it
   * reports. With `user` and a secret configured, also a login token for that user.
   */
  private allocate(res: ServerResponse, rawQuery: string): void {
    const query = parseQuery(rawQuery);
    const key = singleParam(query, 'key');
    if (key !== undefined && (key.length === 0 || key.length > MAX_ALLOC_KEY_LENGTH)) {
      throw BadRequestError.field('key', `must be 1 to ${MAX_ALLOC_KEY_LENGTH} characters`);
    }
    const rawUser = singleParam(query, 'user');
    const user = rawUser === undefined ? undefined : parseName(rawUser, 'user');
    const strategy = key === undefined ? this.strategyName : 'hash';
    let chosen;
    try {
      chosen = this.provider.pickSync(this.cache.current(), key === undefined ? {} : { key });
    } catch (e) {
      if (!(e instanceof NoServersError)) throw e;
      this.metrics.allocations.inc({ strategy, outcome: 'no_servers' });
      throw new NoServerAvailableError(this.root);
    }
    this.metrics.allocations.inc({ strategy, outcome: 'ok' });
    sendJson(res, 200, {
      name: chosen.name,
      ip: chosen.ip,
      port: chosen.port,
      address: addressOf(chosen),
      balance: chosen.balance,
      pending: this.provider.pending.get(chosen.name) ?? 0,
      maxConnections: chosen.maxConnections ?? null,
      strategy,
      ...(user === undefined ? {} : { user }),
      ...(user !== undefined && this.secret !== undefined ? { token: issueToken(this.secret, user, this.tokenTtlMs), tokenTtlMs: this.tokenTtlMs } : {}),
    });
  }

  private async renderMetrics(res: ServerResponse): Promise<void> {
    sendText(res, 200, this.metrics.contentType, await this.metrics.render());
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.events.full) throw new TooManyStreamsError(this.events.clients);
    this.events.attach(req, res);
  }

  private health(): unknown {
    return {
      ok: true,
      zookeeper: { connected: this.session.isConnected, sessionId: this.session.sessionId ?? null },
      servers: this.cache.current().servers.length,
      heartbeatServers: this.heartbeats.size,
      messaging: { online: this.push.routes.size, secret: this.secret !== undefined },
    };
  }

  /** POST /register: a heartbeat. Validated completely before anything touches ZooKeeper. */
  private async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hb = parseHeartbeat(await readJsonBody(req, this.maxBodyBytes), this.defaultTtlMs);
    const result = await this.heartbeats.heartbeat(hb);
    sendJson(res, 200, result);
  }

  private async unregisterPath(res: ServerResponse, address: string): Promise<void> {
    await this.unregister(res, serverName(parseAddress(address)));
  }

  private async unregisterBody(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const endpoint = parseEndpoint(await readJsonBody(req, this.maxBodyBytes));
    await this.unregister(res, serverName(endpoint));
  }

  private async unregister(res: ServerResponse, name: string): Promise<void> {
    if (!(await this.heartbeats.unregister(name))) throw new NotFoundError(`heartbeat registration ${name}`);
    sendJson(res, 200, { name, removed: true });
  }

  // ---- shared state -------------------------------------------------------------------------

  /** Reservations reconciled with `snapshot`. */
  private reservations(snapshot: Snapshot): ReadonlyMap<string, number> {
    return this.provider.reconcile(snapshot);
  }

  private eventPayload(): unknown {
    const snap = this.cache.current();
    return {
      at: snap.at,
      now: Date.now(),
      version: snap.version,
      servers: snap.servers.map(summarize),
      spread: spreadOf(snap),
      total: totalConnections(snap),
      zookeeper: { connected: this.session.isConnected },
      online: { total: this.push.routes.size, version: this.onlineVersion },
    };
  }

  /** Stops HTTP (streams end), deletes the heartbeat nodes, releases the cache. The session stays open. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.events.close();
    const stopped = this.server.listening ? new Promise<void>((r) => this.server.close(() => r())) : Promise.resolve();
    this.server.closeAllConnections();
    await stopped;
    await this.heartbeats.close();
    this.subscribe(false);
    this.push.close();
    this.cache.close();
    this.metrics.close();
    this.bound = undefined;
  }
}

/** A browser asks for HTML; curl and the classic clients send `*\/*` or nothing. */
function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

