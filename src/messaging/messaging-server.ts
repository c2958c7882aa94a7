import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FulcrumError, InvalidArgumentError } from '../errors.js';
import { reportError } from '../log/report-error.js';
import { ClusterServer, DEFAULT_HOST, type ClusterServerOptions, type ClusterServerStats } from '../server/cluster-server.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { ZkSession } from '../zk/session.js';
import { checkTlsServerOptions, type TlsClientOptions, type TlsServerOptions } from '../server/transport/tls-options.js';
import { GatewayServer } from './gateway/gateway-server.js';
import { AckCursors, DEFAULT_ACK_FLUSH_MS } from './history/ack-cursors.js';
import type { HistoryEngine } from './history/history-engine.js';
import { historyEngineOf, type HistoryOptions } from './history/history-options.js';
import { DEFAULT_ACK_TIMEOUT_MS, Router, type RouteViewKind } from './router.js';
import { routesRootOf } from './routes/route.js';
import { TokenVerifier } from './token.js';
import { RouteShards } from './routes/route-shards.js';
import { ClientProtocol, type Authorize, type SessionRouter } from './sessions/client-protocol.js';
import type { EndReason } from './sessions/client-session.js';
import { GatewayRequests } from './sessions/gateway-requests.js';
import { HistoryDelivery, type HistoryDeliveryStats } from './sessions/history-delivery.js';
import { resolveSessionLimits, type SessionLimitOptions } from './sessions/session-limits.js';
import { UserSessions, type MessagingStats, type SessionEvent } from './sessions/user-sessions.js';

/** Where the gateway listens unless told otherwise; without a secret it must stay on loopback. */
export const DEFAULT_GATEWAY_HOST = '127.0.0.1';
/** How long after its token's expiry a connection that did not refresh is kicked (`expired`). @default 30000 */
export const DEFAULT_TOKEN_GRACE_MS = 30_000;
/** Longest grace accepted (a day). */
export const MAX_TOKEN_GRACE_MS = 86_400_000;

export interface MessagingServerOptions extends Omit<ClusterServerOptions, 'handler' | 'gateway' | 'gatewayTls' | 'protocol' | 'history'>, SessionLimitOptions {
  /**
   * Cluster secret: logins need a token signed with it (or with one of `tokenKeys`), gateway peers
   * must prove it (and the gateway proves it back). @default none (logins as claimed, gateway on loopback only)
   */
  secret?: string;
  /**
   * More keys login tokens may be signed with, by key id (the token's `kid` header): add a new key
   * here, move the issuers to it, drop the old one once its last tokens expired — nobody is logged
   * out. Tokens without `kid` are checked with `secret`. With keys and no secret, logins need tokens
   * and the gateway stays on loopback. @default none
   */
  tokenKeys?: Readonly<Record<string, string>>;
  /**
   * A logged-in connection whose token expired without a `refresh` gets `kicked {reason:'expired'}`
   * this long after the expiry (a sweep once a second: up to a second later). @default DEFAULT_TOKEN_GRACE_MS (30000)
   */
  tokenGraceMs?: number;
  /** @default DEFAULT_GATEWAY_HOST ('127.0.0.1') */
  gatewayHost?: string;
  /** @default 0 (any free port) */
  gatewayPort?: number;
  /** Gateway address published in the node. @default gatewayHost, or `advertise` when gatewayHost is a wildcard */
  gatewayAdvertise?: string;
  /** @default routesRootOf(root) ('/fulcrum/routes') */
  routesRoot?: string;
  /**
   * Serve the gateway over TLS with this certificate and key (published as `gatewayTls: true`);
   * `false` keeps it plain while the client port has `tls`. The secret still authenticates peers,
   * both ways. @default `tls` (the client port's certificate), else plain TCP
   */
  gatewayTls?: TlsServerOptions | false;
  /** What this server (its router) trusts when a peer's gateway speaks TLS, e.g. `{ ca }`. @default Node's CA roots */
  gatewayTrust?: TlsClientOptions;
  /** How long a pushed message waits for the client's ack. @default DEFAULT_ACK_TIMEOUT_MS (5000) */
  ackTimeoutMs?: number;
  /** Gap between two writes of one route shard. @default 20 */
  routeWriteIntervalMs?: number;
  /** @default DEFAULT_MAX_USERS_PER_SHARD (8192) */
  maxUsersPerShard?: number;
  /**
   * How the server's router knows other servers' users: `watched` (the whole route table from
   * ZooKeeper watches, as an allocation service keeps it) or `on-demand` (its own users plus a
   * bounded cache of routes it asks the other servers for; it reads no route shards, and a login
   * asks the other servers for the user's previous login and tells them about the new one).
   * @default 'watched'
   */
  routes?: RouteViewKind;
  /**
   * Asked before every login, join and send: true allows, false refuses (`error FULCRUM_FORBIDDEN`;
   * for a send, `sent {delivered:false, code:'FULCRUM_FORBIDDEN'}`). May return a promise; a
   * connection's later frames wait for the answer, in order. A throw refuses and is reported.
   * @default everything allowed
   */
  authorize?: Authorize;
  /**
   * Message history (see HistoryOptions): logins and joins replay what the client missed, pushes
   * to offline users wait for the next login, deliveries are ordered and de-duplicated by offset.
   * Every server and router of the cluster must use the same store (`redis`); `memory` is for a
   * cluster of this one server (the server reports FULCRUM_HISTORY_NOT_SHARED when it sees another).
   * @default none
   */
  history?: HistoryOptions;
  /** How often acked cursors are written to the store (coalesced). @default DEFAULT_ACK_FLUSH_MS (200) */
  ackFlushMs?: number;
}

/** A server of the cluster does not share this server's history store. */
export class HistoryNotSharedError extends FulcrumError {
  constructor(message: string) {
    super('FULCRUM_HISTORY_NOT_SHARED', message);
  }
}

export interface MessagingServerStats extends MessagingStats {
  routeWrites: number;
  routeShards: number;
  gatewayPeers: number;
  gatewayRefused: number;
  /** Gateway requests that broke the rules (the peer was closed). */
  gatewayBadRequests: number;
  /** History on: replays, gap fills, dropped duplicates, lost offsets, store failures, acked-cursor writes. */
  history?: HistoryDeliveryStats & { ackWrites: number };
}

export type { SessionEvent };

export interface MessagingServerEvents {
  error: [Error];
  /** A user was welcomed on this server. */
  login: [SessionEvent];
  /** A welcomed user's session ended: `closed` (the client went), `replaced`, `kicked`, `slow`, or `refused` (closed with an error frame). */
  logout: [SessionEvent & { reason: EndReason }];
  /** The server sent `kicked {reason}` to a user's connection (`replaced`, `kicked`, `slow`, or an operator's reason). */
  kicked: [SessionEvent & { reason: string }];
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A ClusterServer whose clients can log in as users and be reached: it publishes its users as
 * route shards in ZooKeeper (owned by its session), keeps every router's view of the route table,
 * and runs a gateway where routers and peer servers deliver messages, publishes and kicks.
 */
export class MessagingServer extends EventEmitter<MessagingServerEvents> {
  readonly session: ZkSession;
  readonly gateway: GatewayServer;
  private readonly ownsSession: boolean;
  private readonly sessions: UserSessions;
  private readonly protocol: ClientProtocol;
  private readonly requests: GatewayRequests;
  private readonly root: string;
  private readonly routesRoot: string;
  private readonly clusterServer: ClusterServer;
  private shards: RouteShards | undefined;
  private routerClient: Router | undefined;
  private gatewayAddress: { ip: string; port: number } | undefined;
  private closing: Promise<void> | undefined;
  private readonly history: { engine: HistoryEngine; owned: boolean; acks: AckCursors; delivery: HistoryDelivery } | undefined;
  /** Peers already reported for not sharing our history store. */
  private readonly unshared = new Set<string>();

  constructor(private readonly options: MessagingServerOptions) {
    super();
    this.root = validateRoot(options.root ?? DEFAULT_ROOT);
    this.routesRoot = validateRoot(options.routesRoot ?? routesRootOf(this.root));
    const gwHost = options.gatewayHost ?? DEFAULT_GATEWAY_HOST;
    if (options.secret !== undefined && options.secret.length === 0) throw InvalidArgumentError.format('secret', 'must not be empty');
    if (options.secret === undefined && !isLoopback(gwHost)) {
      throw InvalidArgumentError.format('gatewayHost', `must be a loopback address without a secret (got ${gwHost}): anyone reaching it could deliver`);
    }
    const gatewayTls = options.gatewayTls === undefined ? options.tls : options.gatewayTls || undefined;
    checkTlsServerOptions('gatewayTls', gatewayTls);
    const tokenGraceMs = options.tokenGraceMs ?? DEFAULT_TOKEN_GRACE_MS;
    if (!Number.isInteger(tokenGraceMs) || tokenGraceMs < 0 || tokenGraceMs > MAX_TOKEN_GRACE_MS) throw InvalidArgumentError.format('tokenGraceMs', `must be an integer from 0 to ${MAX_TOKEN_GRACE_MS}, got ${tokenGraceMs}`);
    if (options.authorize !== undefined && typeof options.authorize !== 'function') throw InvalidArgumentError.format('authorize', 'must be a function');
    const limits = resolveSessionLimits(options);
    const ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    if (typeof options.zk === 'string') {
      this.session = new ZkSession({ connect: options.zk, sessionTimeoutMs: options.sessionTimeoutMs, connectTimeoutMs: options.connectTimeoutMs, digest: options.digest, logger: options.logger });
      this.ownsSession = true;
    } else {
      this.session = options.zk;
      this.ownsSession = false;
    }
    const id = () => this.clusterServer.id;
    this.sessions = new UserSessions({
      server: id,
      maxQueuedBytes: limits.maxQueuedBytes,
      onRelease: (user) => this.shards?.delete(user),
      events: {
        login: (e) => this.emit('login', e),
        logout: (e) => this.emit('logout', e),
        kicked: (e) => this.emit('kicked', e),
      },
    });
    const engine = historyEngineOf(options.history);
    if (engine) {
      const acks = new AckCursors(engine.engine, (e) => this.reportError(e), options.ackFlushMs ?? DEFAULT_ACK_FLUSH_MS);
      this.history = { ...engine, acks, delivery: new HistoryDelivery(this.sessions, engine.engine, acks, (e) => this.reportError(e)) };
    }
    this.protocol = new ClientProtocol(this.sessions, {
      server: id,
      tokens: new TokenVerifier({ secret: options.secret, keys: options.tokenKeys }),
      tokenGraceMs,
      ackTimeoutMs,
      limits,
      authorize: options.authorize,
      onPing: (socket, migrated) => this.clusterServer.markProtocol(socket, { migrated }),
      report: (e) => this.reportError(e),
      debug: (fields, message) => options.logger?.debug({ ...fields, component: 'MessagingServer', server: this.id }, message),
      history: this.history?.delivery,
    });
    const requests = new GatewayRequests(this.sessions, ackTimeoutMs, this.history?.delivery);
    this.gateway = new GatewayServer({ server: id, secret: options.secret, tls: gatewayTls, handle: (req) => requests.handle(req), onError: (e) => this.reportError(e) });
    const {
      secret: _s, tokenKeys: _k, tokenGraceMs: _g, gatewayTls: _gt, gatewayTrust: _gr, gatewayHost: _h, gatewayPort: _p, gatewayAdvertise: _a, routesRoot: _r, ackTimeoutMs: _t, routeWriteIntervalMs: _w, maxUsersPerShard: _m, authorize: _z, routes: _v,
      maxQueuedBytes: _q, maxRoomsPerConnection: _rc, maxInboundFramesPerSecond: _f, maxInboundBytesPerSecond: _b, welcomeTimeoutMs: _wt,
      history: _hi, ackFlushMs: _af,
      ...clusterOptions
    } = options;
    this.clusterServer = new ClusterServer({
      ...clusterOptions,
      ...(this.history ? { history: this.history.engine.kind } : {}),
      zk: this.session,
      protocol: this.protocol,
      gateway: () => this.gatewayAddress,
      gatewayTls: gatewayTls !== undefined,
      // The client port first (a port in use fails at once, as for a plain server), the gateway before the node is published.
      beforeRegister: () => this.openGateway(),
    });
    this.requests = requests;
  }

  /** The underlying ClusterServer (balance, registration, sockets, metrics). */
  get cluster(): ClusterServer {
    return this.clusterServer;
  }

  /** This server's router (route table + gateways); defined once listening. */
  get router(): Router {
    if (!this.routerClient) throw new InvalidArgumentError('MessagingServer: call listen() first');
    return this.routerClient;
  }

  /** The server's one name: its node in ZooKeeper, its routes, gateway results, `welcome` and `pong` (`ip:port` unless the `id` option says otherwise). */
  get id(): string {
    return this.clusterServer.id;
  }

  get endpoint(): { ip: string; port: number } | undefined {
    return this.clusterServer.endpoint;
  }

  get gatewayEndpoint(): { ip: string; port: number } | undefined {
    return this.gatewayAddress;
  }

  get connections(): ReadonlySet<Socket> {
    return this.clusterServer.connections;
  }

  get stats(): ClusterServerStats & MessagingServerStats {
    return {
      ...this.clusterServer.stats,
      ...this.sessions.stats,
      routeWrites: this.shards?.writes ?? 0,
      routeShards: this.shards?.shardCount ?? 0,
      gatewayPeers: this.gateway.stats.peers,
      gatewayRefused: this.gateway.stats.refused,
      gatewayBadRequests: this.gateway.stats.badRequests,
      ...(this.history ? { history: { ...this.history.delivery.stats, ackWrites: this.history.acks.writes } } : {}),
    };
  }

  /** The message history store, when on. */
  get historyEngine(): HistoryEngine | undefined {
    return this.history?.engine;
  }

  /** Opens the gateway, registers the server, publishes its route shards and loads the route table. */
  private async openGateway(): Promise<void> {
    const gwHost = this.options.gatewayHost ?? DEFAULT_GATEWAY_HOST;
    const gw = await this.gateway.listen(gwHost, this.options.gatewayPort ?? 0);
    const advertise = this.options.gatewayAdvertise ?? (WILDCARD.has(gwHost) ? (this.options.advertise ?? this.options.host ?? DEFAULT_HOST) : gwHost);
    this.gatewayAddress = { ip: advertise, port: gw.port };
  }

  async listen(): Promise<{ ip: string; port: number }> {
    try {
      const address = await this.clusterServer.listen();
      this.shards = new RouteShards({
        session: this.session,
        routesRoot: this.routesRoot,
        server: this.id,
        minWriteIntervalMs: this.options.routeWriteIntervalMs,
        maxUsersPerShard: this.options.maxUsersPerShard,
        digest: this.options.digest,
        logger: this.options.logger,
      });
      // Background failures of the shards and the router: an 'error' event when somebody listens, else logged.
      const report = (e: Error) => this.reportError(e);
      this.shards.on('error', report);
      await this.shards.start();
      const sessions = this.sessions;
      const router = new Router({
        zk: this.session,
        root: this.root,
        routesRoot: this.routesRoot,
        secret: this.options.secret,
        tls: this.options.gatewayTrust,
        logger: this.options.logger,
        routes: this.options.routes ?? 'watched',
        local: {
          server: this.id,
          handle: (req) => this.requests.handle(req),
          holder: (user) => sessions.holder(user),
          users: () => sessions.holders(),
          userCount: () => sessions.userCount,
        },
        ...(this.history ? { history: { engine: this.history.engine } } : {}),
      });
      this.routerClient = router;
      router.on('error', report);
      if (this.history) router.servers.on('added', (name, kind) => this.checkShared(name, kind));
      router.routes.on('changed', (users) => this.protocol.routesChanged(users));
      await router.start();
      if (this.history) for (const name of router.servers.names()) this.checkShared(name, router.servers.historyOf(name));
      const sessionRouter: SessionRouter = {
        route: (user) => router.routes.best(user),
        previous: (user) => router.previousLogin(user),
        push: (to, body, opts) => router.push(to, body, opts),
        kickElsewhere: (user, order, previous) => router.replaceElsewhere(user, order, previous),
      };
      this.protocol.attach(this.shards, sessionRouter);
      if (this.history) this.session.on('session', this.afterExpiry);
      return address;
    } catch (e) {
      await this.close().catch((closeError: unknown) => this.reportError(closeError instanceof Error ? closeError : new Error(String(closeError))));
      throw e;
    }
  }

  /**
   * A new ZooKeeper session (the old one expired): while this server's routes and node were gone,
   * routers stored messages for its users without reaching it. Once every route is back, each
   * connection reads what it missed (later messages find the routes).
   */
  private readonly afterExpiry = (): void => {
    const shards = this.shards;
    const history = this.history;
    if (!shards || !history) return;
    void shards.republished().then(() => {
      if (this.closing) return;
      for (const s of this.sessions.everyone()) history.delivery.catchUp(s);
    });
  };

  /** Every server must append to and replay from the same store: a peer with another (or none) is reported once. */
  private checkShared(name: string, kind: string | undefined): void {
    const mine = this.history!.engine.kind;
    if (name === this.id || this.unshared.has(name) || (mine === 'redis' && kind === 'redis')) return;
    this.unshared.add(name);
    this.reportError(
      new HistoryNotSharedError(
        mine === 'memory'
          ? `server ${name} shares the cluster, but this server keeps its history in memory: messages routed through ${name} are not stored here, and users moving between the two lose their history; use the Redis engine`
          : `server ${name} uses ${kind ?? 'no'} history while this one uses Redis: its users get no replay and their messages may be lost`,
      ),
    );
  }

  private reportError(e: Error): void {
    reportError(this, e, this.options.logger, { component: 'MessagingServer', server: this.id });
  }

  /** Logged-in (welcomed) users on this server. */
  get userCount(): number {
    return this.sessions.userCount;
  }

  /** Resolves once ZooKeeper holds this server's current routes. */
  routesFlushed(): Promise<void> {
    return this.shards?.flushed() ?? Promise.resolve();
  }

  /** No new logins; routes first (so nobody routes here any more), then the node and the sockets, then the gateway. */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.session.off('session', this.afterExpiry);
      this.protocol.close();
      await this.shards?.close();
      await this.clusterServer.close(opts);
      await this.gateway.close();
      this.routerClient?.close();
      if (this.history) {
        await this.history.acks.close();
        if (this.history.owned) await this.history.engine.close();
      }
      if (this.ownsSession) this.session.close();
    })();
    return this.closing;
  }
}
