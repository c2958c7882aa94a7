// One ClusterServer in its own OS process, driven over IPC by the ServerRunner.
import type { ClusterServerStats } from '../../server/cluster-server.js';
import { MessagingServer, type MessagingServerStats } from '../../messaging/messaging-server.js';
import { FulcrumError } from '../../errors.js';

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
  /** Prefer the FULCRUM_DIGEST environment variable (the ServerRunner uses it), which stays off the command line. */
  digest?: string;
  /** Messaging gateway address (loopback unless a secret is set). */
  gatewayHost?: string;
  /** Never on the command line: the runner passes FULCRUM_SECRET in the environment. */
  ackTimeoutMs?: number;
  routeWriteIntervalMs?: number;
}

export type ServerProcessMessage =
  | { type: 'ready'; ip: string; port: number; id: string; path: string; pid: number; gatewayPort: number }
  | { type: 'failed'; code: string; message: string }
  | { type: 'stats'; reqId: number; stats: ClusterServerStats & MessagingServerStats; live: number; registered: boolean; zk: ServerProcessZkState };

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

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ServerProcessConfig;
  const digest = cfg.digest ?? process.env.FULCRUM_DIGEST;
  const secret = process.env.FULCRUM_SECRET || undefined;
  let server: MessagingServer;
  try {
    server = new MessagingServer({ ...cfg, zk: cfg.zk, digest: digest || undefined, secret });
  } catch (e) {
    send({ type: 'failed', code: e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL', message: (e as Error).message });
    process.exit(2);
  }
  let closing: Promise<void> | undefined;
  const close = (drainMs?: number) => {
    closing ??= server.close({ drainMs }).finally(() => process.exit(0));
    return closing;
  };
  process.on('SIGTERM', () => void close());
  process.on('SIGINT', () => void close());
  process.on('disconnect', () => void close()); // the runner died: do not linger
  process.on('message', (m: ServerProcessRequest) => {
    if (m.type === 'stats') {
      const zk = { sessionId: server.session.sessionId, connected: server.session.isConnected, abandoned: server.session.abandonedHandles };
      send({ type: 'stats', reqId: m.reqId, stats: server.stats, live: server.connections.size, registered: server.cluster.isRegistered, zk });
    }
    else if (m.type === 'close') void close(m.drainMs);
  });
  try {
    const { ip, port } = await server.listen();
    send({ type: 'ready', ip, port, id: server.id, path: server.cluster.nodePath!, pid: process.pid, gatewayPort: server.gatewayEndpoint!.port });
  } catch (e) {
    const err = e as Error;
    send({ type: 'failed', code: e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL', message: err.message });
    process.exit(2);
  }
}

void main();
