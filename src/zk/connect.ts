import { ZkConnectTimeoutError, ZkError } from '../errors.js';
import { parseConnectString } from './connect-string.js';
import { assertPatchedAddon, ZooKeeper } from './addon.js';
import type { Logger } from '../log/logger.js';

export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ZkConnectOptions {
  /** `host:port[,host:port…][/chroot]`. */
  connect: string;
  /** Requested session timeout; the server clamps it to [2, 20] × tickTime. @default 10000 */
  sessionTimeoutMs?: number;
  /** How long to wait for the first connection; the native client never reports failure itself. @default 10000 */
  connectTimeoutMs?: number;
  /** `user:password` for ZooKeeper's digest scheme. */
  digest?: string;
  /** Where a ZkSession reports failed replacement attempts when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
}

/**
 * Opens a handle and resolves once it is connected (and authenticated when `digest` is set). Rejects
 * with ZkAddonUnpatchedError, before connecting, when the native addon lacks fulcrum's patch.
 */
export function connectZk(opts: ZkConnectOptions): Promise<ZooKeeper> {
  parseConnectString(opts.connect);
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const zk = new ZooKeeper({
      connect: opts.connect,
      timeout: opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      // The C client logs to stderr and is noisy during outages; keep it quiet unless asked.
      debug_level: Number(process.env.FULCRUM_ZK_LOG_LEVEL ?? 0),
      host_order_deterministic: false,
    });
    assertPatchedAddon(zk);
    const timer = setTimeout(() => {
      zk.close();
      reject(new ZkConnectTimeoutError(opts.connect, connectTimeoutMs));
    }, connectTimeoutMs);
    zk.once('connect', () => {
      if (!opts.digest) {
        clearTimeout(timer);
        resolve(zk);
        return;
      }
      zk.add_auth('digest', opts.digest, (rc: number) => {
        clearTimeout(timer);
        if (rc === 0) resolve(zk);
        else {
          zk.close();
          reject(new ZkError('add_auth', 'digest', rc, { detail: 'digest authentication failed' }));
        }
      });
    });
    zk.init({});
  });
}
