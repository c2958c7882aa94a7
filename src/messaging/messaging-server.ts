import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { reportError } from '../log/report-error.js';
import { ClusterServer, DEFAULT_HOST, type ClusterServerOptions, type ClusterServerStats } from '../server/cluster-server.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { ZkSession } from '../zk/session.js';
import { GatewayServer } from './gateway/gateway-server.js';
import { DEFAULT_ACK_TIMEOUT_MS, Router } from './router.js';
import { routesRootOf } from './routes/route.js';
import { RouteShards } from './routes/route-shards.js';
import { UserSessions, type MessagingStats } from './user-sessions.js';

/** Where the gateway listens unless told otherwise; without a secret it must stay on loopback. */
export const DEFAULT_GATEWAY_HOST = '127.0.0.1';

export interface MessagingServerOptions extends Omit<ClusterServerOptions, 'handler' | 'gateway'> {
  /** Cluster secret: logins need a token signed with it, gateway peers must prove it. @default none (logins as claimed, gateway on loopback only) */
  secret?: string;
  /** @default DEFAULT_GATEWAY_HOST ('127.0.0.1') */
  gatewayHost?: string;
  /** @default 0 (any free port) */
  gatewayPort?: number;
  /** Gateway address published in the node. @default gatewayHost, or `advertise` when gatewayHost is a wildcard */
  gatewayAdvertise?: string;
  /** @default routesRootOf(root) ('/fulcrum/routes') */
  routesRoot?: string;
  /** How long a pushed message waits for the client's ack. @default DEFAULT_ACK_TIMEOUT_MS (5000) */
  ackTimeoutMs?: number;
  /** Gap between two writes of one route shard. @default 20 */
  routeWriteIntervalMs?: number;
  /** @default DEFAULT_MAX_USERS_PER_SHARD (8192) */
  maxUsersPerShard?: number;
}

export interface MessagingServerStats extends MessagingStats {
  routeWrites: number;
  routeShards: number;
  gatewayPeers: number;
  gatewayRefused: number;
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
export class MessagingServer extends EventEmitter<{ error: [Error] }> {
  readonly session: ZkSession;
  readonly gateway: GatewayServer;
  private readonly ownsSession: boolean;
  private readonly sessions: UserSessions;
  private readonly root: string;
  private readonly routesRoot: string;
  private readonly clusterServer: ClusterServer;
  private shards: RouteShards | undefined;
  private routerClient: Router | undefined;
  private gatewayAddress: { ip: string; port: number } | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: MessagingServerOptions) {
    super();
    this.root = validateRoot(options.root ?? DEFAULT_ROOT);
    this.routesRoot = validateRoot(options.routesRoot ?? routesRootOf(this.root));
    const gwHost = options.gatewayHost ?? DEFAULT_GATEWAY_HOST;
    if (options.secret !== undefined && options.secret.length === 0) throw InvalidArgumentError.format('secret', 'must not be empty');
    if (options.secret === undefined && !isLoopback(gwHost)) {
      throw InvalidArgumentError.format('gatewayHost', `must be a loopback address without a secret (got ${gwHost}): anyone reaching it could deliver`);
    }
    if (typeof options.zk === 'string') {
      this.session = new ZkSession({ connect: options.zk, sessionTimeoutMs: options.sessionTimeoutMs, connectTimeoutMs: options.connectTimeoutMs, digest: options.digest, logger: options.logger });
      this.ownsSession = true;
    } else {
      this.session = options.zk;
      this.ownsSession = false;
    }
    this.sessions = new UserSessions({
      server: () => this.name,
      serverId: () => this.clusterServer.id,
      secret: options.secret,
      ackTimeoutMs: options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS,
      onPing: (socket, migrated) => this.clusterServer.markProtocol(socket, { migrated }),
    });
    this.gateway = new GatewayServer({ server: () => this.name, secret: options.secret, handle: (req) => this.sessions.handleGateway(req) });
    const { secret: _s, gatewayHost: _h, gatewayPort: _p, gatewayAdvertise: _a, routesRoot: _r, ackTimeoutMs: _t, routeWriteIntervalMs: _w, maxUsersPerShard: _m, ...clusterOptions } = options;
    this.clusterServer = new ClusterServer({
      ...clusterOptions,
      zk: this.session,
      handler: (s) => this.sessions.handle(s),
      gateway: () => this.gatewayAddress,
      // The client port first (a port in use fails at once, as for a plain server), the gateway before the node is published.
      beforeRegister: () => this.openGateway(),
    });
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

  get id(): string {
    return this.clusterServer.id;
  }

  /** Node name: what routes and gateway results call this server. */
  get name(): string {
    return this.id.replace(/\//g, '_');
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
    };
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
        server: this.name,
        minWriteIntervalMs: this.options.routeWriteIntervalMs,
        maxUsersPerShard: this.options.maxUsersPerShard,
        digest: this.options.digest,
        logger: this.options.logger,
      });
      // Background failures of the shards and the router: an 'error' event when somebody listens, else logged.
      const report = (e: Error) => reportError(this, e, this.options.logger, { component: 'MessagingServer', server: this.name });
      this.shards.on('error', report);
      await this.shards.start();
      this.routerClient = new Router({ zk: this.session, root: this.root, routesRoot: this.routesRoot, secret: this.options.secret, logger: this.options.logger, local: { server: this.name, handle: (req) => this.sessions.handleGateway(req) } });
      this.routerClient.on('error', report);
      await this.routerClient.start();
      this.sessions.attach(this.shards, this.routerClient);
      return address;
    } catch (e) {
      await this.close().catch(() => {});
      throw e;
    }
  }

  /** Logged-in users on this server. */
  get userCount(): number {
    return this.sessions.userCount;
  }

  /** Resolves once ZooKeeper holds this server's current routes. */
  routesFlushed(): Promise<void> {
    return this.shards?.flushed() ?? Promise.resolve();
  }

  /** Routes first (so nobody routes here any more), then the node and the sockets, then the gateway. */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      await this.shards?.close();
      await this.clusterServer.close(opts);
      await this.gateway.close();
      this.routerClient?.close();
      if (this.ownsSession) this.session.close();
    })();
    return this.closing;
  }
}
