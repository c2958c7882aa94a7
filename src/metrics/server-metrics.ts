import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MessagingServerStats } from '../messaging/messaging-server.js';
import type { ClusterServer } from '../server/cluster-server.js';
import type { ZkSession } from '../zk/session.js';
import { mirroredCounter } from './mirrored-counter.js';

/** Buckets of fulcrum_zk_write_seconds: a loopback write takes about a millisecond, a loaded ensemble tens. */
export const DEFAULT_ZK_WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface ServerMetricsOptions {
  /** Where the metrics go. @default a private Registry (never prom-client's global one) */
  registry?: Registry;
  /** Add prom-client's process metrics (CPU, memory, event-loop lag, GC). @default true for the private registry, false for a given one */
  defaultMetrics?: boolean;
  /** The session whose state is reported. @default server.session */
  session?: ZkSession;
  /** The MessagingServer around `server` (its `cluster`): adds the messaging series. @default none */
  messaging?: { readonly stats: MessagingServerStats };
}

/**
 * Prometheus metrics of one ClusterServer and its ZooKeeper session. Counts are read from the
 * server's stats at scrape time; write durations and session replacements come from events.
 * One ServerMetrics per registry: the names carry no server label.
 */
export class ServerMetrics {
  readonly registry: Registry;
  private readonly detach: () => void;

  constructor(server: ClusterServer, options: ServerMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const session = options.session ?? server.session;
    const registers = [this.registry];
    new Gauge({
      name: 'fulcrum_server_connections',
      help: 'Live client connections of this server (accepted and not yet closed).',
      registers,
      collect() {
        this.set(server.connections.size);
      },
    });
    new Gauge({
      name: 'fulcrum_server_counted_balance',
      help: 'The balance this server counts and publishes in ZooKeeper.',
      registers,
      collect() {
        this.set(server.balance);
      },
    });
    new Gauge({
      name: 'fulcrum_server_registered',
      help: '1 while the server node exists for the current session, as far as the server knows.',
      registers,
      collect() {
        this.set(server.isRegistered ? 1 : 0);
      },
    });
    // The server keeps cumulative counts; each scrape mirrors them.
    const mirror = (name: string, help: string, read: () => number) => mirroredCounter(registers, name, help, read);
    mirror('fulcrum_server_accepted_total', 'Connections accepted and counted.', () => server.stats.accepted);
    mirror('fulcrum_server_refused_total', 'Connections closed at once (over maxConnections, or draining); never counted.', () => server.stats.refused);
    mirror('fulcrum_server_protocol_errors_total', 'Connections closed for a malformed frame.', () => server.stats.protocolErrors);
    mirror('fulcrum_server_reregistrations_total', 'Times the server node had to be created again (session expiry, node lost).', () => server.stats.reregistrations);
    mirror('fulcrum_server_migrations_asked_total', 'Connections this server asked to move for rebalancing (migrate frames plus graceful closes).', () => server.stats.rebalance?.asked ?? 0);
    mirror('fulcrum_server_migrations_moved_total', 'Connections asked to move that have gone.', () => server.stats.rebalance?.moved ?? 0);
    mirror('fulcrum_zk_writes_total', 'Balance writes (versioned setData) that succeeded.', () => server.stats.writes);
    mirror('fulcrum_zk_write_conflicts_total', 'Balance writes answered BADVERSION (the version was re-read and the truth written again).', () => server.stats.badVersion);
    mirror('fulcrum_zk_write_failures_total', 'Balance writes that failed otherwise and were retried later.', () => server.stats.failures);
    const messaging = options.messaging;
    if (messaging) {
      new Gauge({
        name: 'fulcrum_server_users',
        help: 'Logged-in (welcomed) users on this server.',
        registers,
        collect() {
          this.set(messaging.stats.users);
        },
      });
      new Gauge({
        name: 'fulcrum_server_logins_pending',
        help: 'Logins waiting for their route to be stored in ZooKeeper (no welcome yet).',
        registers,
        collect() {
          this.set(messaging.stats.loggingIn);
        },
      });
      mirror('fulcrum_server_logins_total', 'Logins welcomed.', () => messaging.stats.logins);
      mirror('fulcrum_server_kicks_total', 'Connections closed with a kicked frame (replaced, by an operator, or slow).', () => messaging.stats.kicks);
      mirror('fulcrum_server_slow_kicks_total', 'Connections kicked as slow: more than maxQueuedBytes waiting for the socket.', () => messaging.stats.slowKicks);
      mirror('fulcrum_server_messaging_refused_total', 'Connections closed with an error frame (bad frame, refused login, rate limit).', () => messaging.stats.refused);
      mirror('fulcrum_server_rate_limited_total', 'Connections closed for sending more frames or bytes per second than allowed.', () => messaging.stats.rateLimited);
      mirror('fulcrum_server_forbidden_total', 'Joins refused (authorize hook or rooms limit) and sends refused by the authorize hook.', () => messaging.stats.forbidden);
      mirror('fulcrum_server_expired_kicks_total', 'Connections kicked because their login token expired without a refresh (after the grace period).', () => messaging.stats.expiredKicks);
      mirror('fulcrum_server_refresh_refused_total', 'Token refreshes refused (bad, expired or another user\'s token); the connection stayed.', () => messaging.stats.refreshRefused);
      mirror('fulcrum_server_messages_total', 'Message frames written to clients.', () => messaging.stats.messages);
      mirror('fulcrum_server_route_writes_total', 'Route shard writes (creates and setData) to ZooKeeper.', () => messaging.stats.routeWrites);
      mirror('fulcrum_server_gateway_bad_requests_total', 'Gateway requests that broke the rules (the peer was closed).', () => messaging.stats.gatewayBadRequests);
    }
    const writeSeconds = new Histogram({
      name: 'fulcrum_zk_write_seconds',
      help: 'Duration of the successful balance writes to ZooKeeper.',
      buckets: DEFAULT_ZK_WRITE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'fulcrum_zk_connected',
      help: '1 while the ZooKeeper session is connected.',
      registers,
      collect() {
        this.set(session.isConnected ? 1 : 0);
      },
    });
    const replacements = new Counter({
      name: 'fulcrum_zk_session_replacements_total',
      help: 'Times the ZooKeeper session expired (or was given up after a freeze) and a new one took over.',
      registers,
    });
    let hadSession = session.sessionId !== undefined;
    const onSession = () => {
      if (hadSession) replacements.inc();
      hadSession = true;
    };
    const onWritten = (_balance: number, seconds: number) => writeSeconds.observe(seconds);
    session.on('session', onSession);
    server.on('balanceWritten', onWritten);
    this.detach = () => {
      session.off('session', onSession);
      server.off('balanceWritten', onWritten);
    };
    if (options.defaultMetrics ?? options.registry === undefined) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops listening to the server and session and empties the registry. */
  close(): void {
    this.detach();
    this.registry.clear();
  }
}
