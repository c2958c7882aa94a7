import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { BalanceProvider } from '../balancing/balance-provider.js';
import { hash } from '../balancing/index.js';
import { DEFAULT_PENDING_TTL_MS } from '../balancing/pending-picks.js';
import { type Strategy } from '../balancing/strategy.js';
import { getStrategy } from '../balancing/strategy-registry.js';
import { ServerCache } from '../discovery/server-cache.js';
import { addressOf, type ServerInfo, type Snapshot } from '../discovery/snapshot.js';
import { transportsOf } from '../server-data.js';
import { wsUrl } from '../client/ws-transport.js';
import type { TlsClientOptions } from '../server/transport/tls-options.js';
import { FulcrumError, InvalidArgumentError, NoServersError } from '../errors.js';
import { ListenError } from '../server/cluster-server.js';
import { validateRoot } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { Router } from '../messaging/router.js';
import type { HistoryOptions } from '../messaging/history/history-options.js';
import { DEFAULT_TOKEN_TTL_MS, issueToken } from '../messaging/token.js';
import { AllocMetrics } from './alloc-metrics.js';
import { allocList, spreadOf, summarize, totalConnections } from './cluster-view.js';
import { loadDashboard } from './dashboard-page.js';
import type { EventPayload } from './event-payload.js';
import { EventStream } from './event-stream.js';
import { DEFAULT_HEARTBEAT_TTL_MS, MAX_HEARTBEAT_TTL_MS, MIN_HEARTBEAT_TTL_MS } from './heartbeat-request.js';
import { HEARTBEAT_ID_PREFIX, HeartbeatRegistry } from './heartbeat-registry.js';
import { NoServerAvailableError } from './http-errors.js';
import { buildHttpApp, DEFAULT_MAX_BODY_BYTES, type HttpApp, type RouteInfo, type TlsOptions } from './http/http-app.js';
import { clusterRoutes, type Allocation, type AllocateQuery, type Health, type ServerListing } from './routes/cluster-routes.js';
import { heartbeatRoutes } from './routes/heartbeat-routes.js';
import { DEFAULT_MAX_MESSAGE_BODY_BYTES, messagingRoutes } from './routes/messaging-routes.js';
import { mayIssueToken, type AuthorizeToken } from './token-policy.js';

export type { ServerListing } from './routes/cluster-routes.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from './http/http-app.js';
export { MAX_ALLOC_KEY_LENGTH } from './routes/cluster-routes.js';

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
   * The cluster's messaging secret (what the servers got as FULCRUM_SECRET). With it, the service
   * can reach gateways that demand the secret, every route that changes something (push, publish,
   * broadcast, kick, register, unregister) needs `Authorization: Bearer <adminToken(secret)>` (or
   * the secret), and `/allocate?user=U` can return a login token (see `authorizeToken`).
   * @default none: no tokens, and every route is open to whoever reaches the service
   */
  secret?: string;
  /**
   * With a secret: whether `/allocate?user=U` also returns a login token for U to a request that
   * does not carry the admin token (which always gets one). Check the caller here (its session
   * cookie, your own token…); true issues the token.
   * @default none: only requests with the admin token get tokens
   */
  authorizeToken?: AuthorizeToken;
  /** Serve HTTPS with this PEM certificate (chain) and key. @default plain HTTP */
  tls?: TlsOptions;
  /**
   * With a secret: sign the login tokens `/allocate?user=U` issues with this key (its `kid` in the
   * token header; servers list it in `tokenKeys`) instead of the secret. @default the secret
   */
  tokenKey?: { kid: string; secret: string };
  /** What the service's router trusts when a server's gateway speaks TLS, e.g. `{ ca }`. @default Node's CA roots */
  gatewayTrust?: TlsClientOptions;
  /** Lifetime of the tokens `/allocate?user=` issues. @default DEFAULT_TOKEN_TTL_MS (1 h) */
  tokenTtlMs?: number;
  /** Largest body of push / publish / broadcast. @default DEFAULT_MAX_MESSAGE_BODY_BYTES (256 KiB) */
  maxMessageBodyBytes?: number;
  /** How long a push waits for the client's ack unless the request says. @default the push client's (5000) */
  pushAckTimeoutMs?: number;
  /**
   * Message history (the servers' store, e.g. `{ redis: 'redis://…' }`): pushes and room publishes
   * are stored before they are sent, a push that is not acked answers 202, and `GET /history/{user}`,
   * `GET /rooms/{room}/history` are served. @default none
   */
  history?: HistoryOptions;
}

export interface AllocAddress {
  host: string;
  port: number;
  /** e.g. `http://127.0.0.1:9999/` (`https://…` with `tls`) */
  url: string;
}

/** What a server's client port accepts, as /servers and /allocate say it. */
function transportFields(s: ServerInfo): Pick<ServerListing, 'transports' | 'tls' | 'ws'> {
  const transports = [...transportsOf(s)];
  return { transports, tls: s.tls === true, ws: transports.includes('ws') ? wsUrl(s) : null };
}

/** fulcrum's version, for the OpenAPI document (dist/src/alloc/ is three levels below package.json). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
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
  private readonly options: AllocServiceOptions;
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
  private http: HttpApp | undefined;
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
    this.options = options;
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
    if (options.authorizeToken !== undefined && typeof options.authorizeToken !== 'function') throw InvalidArgumentError.format('authorizeToken', 'must be a function');
    if (options.tls !== undefined && (!options.tls.cert || !options.tls.key)) throw InvalidArgumentError.format('tls', 'needs both cert and key');
    this.tokenTtlMs = options.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
    if (!(Number.isFinite(this.tokenTtlMs) && this.tokenTtlMs > 0)) throw InvalidArgumentError.format('tokenTtlMs', `must be positive, got ${this.tokenTtlMs}`);
    this.cache = new ServerCache({ session: this.session, root: this.root });
    this.push = new Router({ zk: this.session, root: this.root, secret: this.secret, ackTimeoutMs: options.pushAckTimeoutMs, tls: options.gatewayTrust, history: options.history });
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
      this.http = await this.buildApp();
    } catch (e) {
      await this.close();
      throw e;
    }
    try {
      await this.http.app.listen({ host: this.host, port: this.port });
    } catch (cause) {
      await this.close();
      throw new ListenError(`${this.host}:${this.port}`, { cause });
    }
    const { port } = this.http.app.server.address() as AddressInfo;
    const shown = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.bound = { host: this.host, port, url: `${this.options.tls ? 'https' : 'http'}://${shown}:${port}/` };
    return this.bound;
  }

  /** Every route the service serves (after start), as the OpenAPI document names them. */
  get routes(): readonly RouteInfo[] {
    return this.http?.routes ?? [];
  }

  private buildApp(): Promise<HttpApp> {
    const dashboard = loadDashboard();
    return buildHttpApp({
      secret: this.secret,
      tls: this.options.tls,
      maxBodyBytes: this.maxBodyBytes,
      countError: (code) => this.countError(code),
      countRequest: (route, status) => this.metrics.httpRequests.inc({ route, status: String(status) }),
      onInternalError: (e, req) => this.log.error({ err: e, code: 'FULCRUM_ALLOC_INTERNAL', url: req.url }, `request failed: ${(e as Error).message}`),
      info: {
        title: 'fulcrum allocation service',
        version: packageVersion(),
        description: [
          'Hands out the least-loaded server of a fulcrum cluster, registers servers over HTTP heartbeats, and routes messages to logged-in users.',
          'Every error is JSON {"error": {"code", "message", "field"?}}. Besides the answers each route lists: any other path is 404 FULCRUM_ALLOC_NOT_FOUND;',
          'another method on a listed path is 405 FULCRUM_ALLOC_METHOD_NOT_ALLOWED with Allow; malformed percent-encoding in the path is 400 FULCRUM_ALLOC_BAD_REQUEST;',
          'malformed HTTP is 400 FULCRUM_ALLOC_BAD_HTTP, headers over the limit 431 FULCRUM_ALLOC_HEADERS_TOO_LARGE, a request not received within 30 s 408 FULCRUM_ALLOC_REQUEST_TIMEOUT.',
          'With a secret, every route that changes something needs Authorization: Bearer <admin token>, checked before the body is read.',
        ].join(' '),
      },
      routes: (app) => {
        clusterRoutes(app, {
          allocList: () => {
            const snap = this.cache.current();
            return allocList(snap, this.reservations(snap));
          },
          servers: () => this.listing(),
          allocate: (query, req) => this.allocate(query, req),
          health: () => this.health(),
          metrics: async () => ({ contentType: this.metrics.contentType, text: await this.metrics.render() }),
          events: this.events,
          dashboard,
        });
        heartbeatRoutes(app, { heartbeats: this.heartbeats, defaultTtlMs: this.defaultTtlMs });
        messagingRoutes(app, { push: this.push, maxBodyBytes: this.options.maxMessageBodyBytes ?? DEFAULT_MAX_MESSAGE_BODY_BYTES });
      },
    });
  }

  private countError(code: string): void {
    this.metrics.errors.inc({ code });
  }

  // ---- what the routes answer ---------------------------------------------------------------

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
        ...transportFields(s),
        ...(hb ? { heartbeat: { ttlMs: hb.ttlMs, expiresAt: hb.expiresAt, lastHeartbeatAt: hb.lastHeartbeatAt } } : {}),
      };
    });
  }

  /**
   * GET /allocate[?key=…][&user=U]: one server for this caller, counted as a reservation until it
   * reports. With `user`, a secret, and a caller allowed to have one (see token-policy.ts), also
   * a login token for that user.
   */
  private async allocate(query: AllocateQuery, req: FastifyRequest): Promise<Allocation> {
    const { key, user } = query;
    // Decided before the pick, so a refused or failed decision reserves nothing.
    const token =
      user !== undefined && (await mayIssueToken(this.secret, this.options.authorizeToken, { user, headers: req.headers, remoteAddress: req.socket.remoteAddress }))
        ? { token: issueToken(this.options.tokenKey ?? this.secret!, user, this.tokenTtlMs), tokenTtlMs: this.tokenTtlMs }
        : {};
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
    return {
      name: chosen.name,
      ip: chosen.ip,
      port: chosen.port,
      address: addressOf(chosen),
      balance: chosen.balance,
      pending: this.provider.pending.get(chosen.name) ?? 0,
      maxConnections: chosen.maxConnections ?? null,
      strategy,
      ...transportFields(chosen),
      ...(user === undefined ? {} : { user }),
      ...token,
    };
  }

  private health(): Health {
    return {
      ok: true,
      zookeeper: { connected: this.session.isConnected, sessionId: this.session.sessionId ?? null },
      servers: this.cache.current().servers.length,
      heartbeatServers: this.heartbeats.size,
      messaging: { online: this.push.routes.size, secret: this.secret !== undefined, history: this.push.history?.kind ?? null },
    };
  }

  // ---- shared state -------------------------------------------------------------------------

  /** Reservations reconciled with `snapshot`. */
  private reservations(snapshot: Snapshot): ReadonlyMap<string, number> {
    return this.provider.reconcile(snapshot);
  }

  private eventPayload(): EventPayload {
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
    await this.http?.app.close();
    await this.heartbeats.close();
    this.subscribe(false);
    this.push.close();
    this.cache.close();
    this.metrics.close();
    this.bound = undefined;
  }
}
