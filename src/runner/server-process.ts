// One ClusterServer in its own OS process, driven over IPC by the ServerRunner.
import { ClusterServer, type ClusterServerStats } from '../server/cluster-server.js';
import { FulcrumError } from '../errors.js';
import type { PublishPolicyOptions } from '../registry/publish-policy.js';

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
  /** Prefer the FULCRUM_DIGEST environment variable (the ServerRunner uses it), which stays off the command line. */
  digest?: string;
}

export type ServerProcessMessage =
  | { type: 'ready'; ip: string; port: number; id: string; path: string; pid: number }
  | { type: 'failed'; code: string; message: string }
  | { type: 'stats'; reqId: number; stats: ClusterServerStats; live: number; registered: boolean; zk: ServerProcessZkState };

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
  let server: ClusterServer;
  try {
    server = new ClusterServer({ ...cfg, zk: cfg.zk, digest: digest || undefined });
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
      send({ type: 'stats', reqId: m.reqId, stats: server.stats, live: server.connections.size, registered: server.isRegistered, zk });
    }
    else if (m.type === 'close') void close(m.drainMs);
  });
  try {
    const { ip, port } = await server.listen();
    send({ type: 'ready', ip, port, id: server.id, path: server.nodePath!, pid: process.pid });
  } catch (e) {
    const err = e as Error;
    send({ type: 'failed', code: e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL', message: err.message });
    process.exit(2);
  }
}

void main();
