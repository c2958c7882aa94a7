// One MessagingServer (a ClusterServer plus logins, routes and a gateway) in its own OS process, driven over IPC by the ServerRunner.
import { readFileSync } from 'node:fs';
import type { ClusterServer, ClusterServerStats } from '../../server/cluster-server.js';
import { MessagingServer, type MessagingServerStats } from '../../messaging/messaging-server.js';
import { FulcrumError } from '../../errors.js';
import type { RebalancerOptions } from '../../server/rebalancer.js';
import type { RouteViewKind } from '../../messaging/router.js';
import type { PublishPolicyOptions } from '../../registry/publish-policy.js';
import type { LogLevel } from '../../log/logger.js';
import type { HistoryLimitOptions } from '../../messaging/history/history-engine.js';
import { ServerMetrics } from '../../metrics/server-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../../metrics/metrics-endpoint.js';
import { toolLogger } from '../log/tool-logger.js';

export interface ServerProcessConfig {
  zk: string;
  root: string;
  host: string;
  advertise?: string;
  port: number;
  maxConnections?: number;
  sessionTimeoutMs?: number;
  minWriteIntervalMs?: number;
  drainMs?: number;
  /** @default true (see ClusterServerOptions.noDelay) */
  noDelay?: boolean;
  /** @default true (see ClusterServerOptions.publishPolicy) */
  publishPolicy?: boolean | PublishPolicyOptions;
  /** Rebalancing: true for the defaults, or the settings. @default off */
  rebalance?: boolean | RebalancerOptions;
  /** Prefer the FULCRUM_DIGEST environment variable (the ServerRunner uses it), which stays off the command line. */
  digest?: string;
  /** The runner's index of this server, the `server` field of its log lines. */
  index?: number;
  /** @default FULCRUM_LOG_LEVEL or 'info' */
  logLevel?: LogLevel;
  /** Serve Prometheus metrics on host:metricsPort/metrics (0 = any free port); none when absent. */
  metricsPort?: number;
  /** Messaging gateway address (loopback unless a secret is set; the secret comes as FULCRUM_SECRET). */
  gatewayHost?: string;
  ackTimeoutMs?: number;
  routeWriteIntervalMs?: number;
  maxQueuedBytes?: number;
  maxRoomsPerConnection?: number;
  maxInboundFramesPerSecond?: number;
  maxInboundBytesPerSecond?: number;
  welcomeTimeoutMs?: number;
  /** Message history in this Redis (the same for every server and router of the cluster). @default none */
  history?: { redis: string } & HistoryLimitOptions;
  /** How the server knows other servers' users (see MessagingServerOptions.routes). @default 'watched' */
  routes?: RouteViewKind;
  /** PEM files the process reads (paths, so no key travels on a command line): TLS on the client port and the gateway. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** PEM CA bundle trusted for peers' TLS gateways. */
  gatewayCaFile?: string;
  /** Accept WebSocket clients at /ws. @default true */
  websocket?: boolean;
  /** JSON file of token keys by kid (see MessagingServerOptions.tokenKeys). */
  tokenKeysFile?: string;
  tokenGraceMs?: number;
}

export type ServerProcessMessage =
  | { type: 'ready'; ip: string; port: number; id: string; path: string; pid: number; metricsUrl?: string; gatewayPort: number }
  | { type: 'failed'; code: string; message: string }
  | { type: 'stats'; reqId: number; stats: ClusterServerStats & MessagingServerStats; live: number; registered: boolean; zk: ServerProcessZkState; memory: NodeJS.MemoryUsage };

/** The server's ZooKeeper session as the process sees it. */
export interface ServerProcessZkState {
  sessionId: string | undefined;
  connected: boolean;
  /** Old handles given up after a freeze and not yet closed. */
  abandoned: number;
}

export type ServerProcessRequest = { type: 'stats'; reqId: number } | { type: 'close'; drainMs?: number };

function send(m: ServerProcessMessage): void {
  // The runner may be gone (it gave up on a sibling); then there is nobody to tell.
  if (process.connected) process.send?.(m);
}

const codeOf = (e: unknown) => (e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL');

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ServerProcessConfig;
  const digest = cfg.digest ?? process.env.FULCRUM_DIGEST;
  const log = toolLogger({ name: 'server', level: cfg.logLevel, bindings: cfg.index === undefined ? undefined : { server: cfg.index } });
  const { index: _index, logLevel: _logLevel, metricsPort, tlsCertFile, tlsKeyFile, gatewayCaFile, tokenKeysFile, ...serverOptions } = cfg;
  const secret = process.env.FULCRUM_SECRET || undefined;
  let messaging: MessagingServer;
  let server: ClusterServer;
  try {
    const tls = tlsCertFile && tlsKeyFile ? { cert: readFileSync(tlsCertFile), key: readFileSync(tlsKeyFile) } : undefined;
    const gatewayTrust = gatewayCaFile ? { ca: readFileSync(gatewayCaFile) } : undefined;
    const tokenKeys = tokenKeysFile ? (JSON.parse(readFileSync(tokenKeysFile, 'utf8')) as Record<string, string>) : undefined;
    messaging = new MessagingServer({ ...serverOptions, digest: digest || undefined, logger: log, secret, tls, gatewayTrust, tokenKeys });
    server = messaging.cluster;
  } catch (e) {
    send({ type: 'failed', code: codeOf(e), message: (e as Error).message });
    process.exit(2);
  }
  // Every error of the server and its registration ends up here: a conflict or a failing balance write is never silent.
  server.on('error', (e) => log.error({ err: e, code: codeOf(e), node: server.nodePath }, e.message));
  messaging.on('error', (e) => log.error({ err: e, code: codeOf(e), node: server.nodePath }, e.message));
  // A slow reader is an operator's concern (a client that cannot keep up); the other kicks are routine.
  messaging.on('kicked', (e) => (e.reason === 'slow' ? log.warn : log.debug).call(log, { user: e.user, reason: e.reason }, `kicked ${e.user} (${e.reason})`));
  server.session.on('disconnected', () => log.warn('ZooKeeper connection lost; the session may still be alive'));
  server.session.on('reconnected', () => log.info('ZooKeeper reconnected with the same session'));
  server.session.on('expired', (code) => log.warn({ zkCode: code }, 'ZooKeeper session ended; replacing it and registering again'));
  let metrics: ServerMetrics | undefined;
  let endpoint: MetricsEndpoint | undefined;
  let closing: Promise<void> | undefined;
  // A sibling of a server that failed to start is stopped while it starts: no 'closed' line for it (the runner reports the failure).
  let started = false;
  const close = (drainMs?: number) => {
    closing ??= messaging
      .close({ drainMs })
      .then(() => endpoint?.close())
      .then(
        () => (started ? log.info('closed') : undefined),
        (e: Error) => log.error({ err: e, code: codeOf(e) }, `close failed: ${e.message}`),
      )
      .finally(() => process.exit(0));
    return closing;
  };
  process.on('SIGTERM', () => void close());
  process.on('SIGINT', () => void close());
  process.on('disconnect', () => void close()); // the runner died: do not linger
  process.on('message', (m: ServerProcessRequest) => {
    if (m.type === 'stats') {
      const zk = { sessionId: server.session.sessionId, connected: server.session.isConnected, abandoned: server.session.abandonedHandles };
      send({ type: 'stats', reqId: m.reqId, stats: messaging.stats, live: server.connections.size, registered: server.isRegistered, zk, memory: process.memoryUsage() });
    } else if (m.type === 'close') void close(m.drainMs);
  });
  try {
    // Metrics first: a busy metrics port fails the start before any node is registered.
    if (metricsPort !== undefined) {
      metrics = new ServerMetrics(server, { messaging });
      endpoint = await serveMetrics(metrics.registry, { host: cfg.host, port: metricsPort });
    }
    const { ip, port } = await messaging.listen();
    started = true;
    log.info({ ip, port, node: server.nodePath, metrics: endpoint?.url }, 'listening and registered');
    send({ type: 'ready', ip, port, id: server.id, path: server.nodePath!, pid: process.pid, metricsUrl: endpoint?.url, gatewayPort: messaging.gatewayEndpoint!.port });
  } catch (e) {
    const err = e as Error;
    // The runner reports this to its caller (the CLI prints it as its one line): debug only here.
    log.debug({ err, code: codeOf(e) }, `start failed: ${err.message}`);
    await endpoint?.close();
    send({ type: 'failed', code: codeOf(e), message: err.message });
    process.exit(2);
  }
}

void main();
