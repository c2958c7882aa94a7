import { EventEmitter } from 'node:events';
import { reportError } from '../../log/report-error.js';
import type { Logger } from '../../log/logger.js';
import { decodeServerData } from '../../server-data.js';
import type { SupervisedSession } from '../../zk/session.js';
import { WatchedFolder } from '../../zk/watched-folder.js';

/** A server's node is re-read on demand (refresh()) at most once per this long. */
export const GATEWAY_REFRESH_MIN_INTERVAL_MS = 1_000;

export interface GatewayAddress {
  ip: string;
  port: number;
  /** The gateway speaks TLS. */
  tls?: boolean;
}

export interface GatewayDirectoryOptions {
  session: SupervisedSession;
  /** The servers root. */
  root: string;
  /** Told when a server's node is gone (close its gateway connection). */
  onRemoved?: (name: string) => void;
  /** Where read failures go when nobody listens for 'error'. @default defaultLogger() */
  logger?: Logger;
}

interface Entry {
  gateway: GatewayAddress | undefined;
  /** The message history the server says it uses. */
  history: string | undefined;
  /** Date.now() of the last on-demand re-read. */
  refreshedAt: number;
}

/**
 * Which servers exist and where their gateways are. Unlike the balance cache it watches only the
 * child list (a WatchedFolder without data watches): a gateway address never changes while a node
 * lives, so balance writes cost nothing here. A node is read when it appears, at each resync, and
 * on refresh() when its gateway failed (a restart under the same name may have moved it).
 */
export class GatewayDirectory extends EventEmitter<{ error: [Error]; added: [name: string, history: string | undefined] }> {
  private readonly folder: WatchedFolder;
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: GatewayDirectoryOptions) {
    super();
    this.folder = new WatchedFolder({
      session: options.session,
      path: options.root,
      watchData: false,
      sink: {
        data: (name, node) => {
          const known = this.entries.get(name);
          this.entries.set(name, { ...this.decode(node.data), refreshedAt: known?.refreshedAt ?? 0 });
          if (!known) this.emit('added', name, this.entries.get(name)!.history);
        },
        removed: (name) => {
          if (this.entries.delete(name)) this.options.onRemoved?.(name);
        },
        error: (err, ctx) => reportError(this, err, options.logger, { component: 'GatewayDirectory', ...ctx }),
      },
    });
  }

  start(): Promise<void> {
    return this.folder.start();
  }

  /** Registered servers (whether or not they publish a gateway). */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The gateway of a registered server, undefined when it has none (or is not registered). */
  get(name: string): GatewayAddress | undefined {
    return this.entries.get(name)?.gateway;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The message history a registered server says it uses (undefined: none, or not registered). */
  historyOf(name: string): string | undefined {
    return this.entries.get(name)?.history;
  }

  /**
   * Reads one server's node again (its gateway may have moved: a restart under the same name), at
   * most once per GATEWAY_REFRESH_MIN_INTERVAL_MS however many requests fail.
   */
  refresh(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    const now = Date.now();
    if (now - e.refreshedAt < GATEWAY_REFRESH_MIN_INTERVAL_MS) return;
    e.refreshedAt = now;
    void this.folder.refresh(name);
  }

  close(): void {
    this.folder.close();
  }

  private decode(data: Buffer): Pick<Entry, 'gateway' | 'history'> {
    try {
      const d = decodeServerData(data);
      const gateway = d.gatewayIp !== undefined && d.gatewayPort !== undefined ? { ip: d.gatewayIp, port: d.gatewayPort, ...(d.gatewayTls ? { tls: true } : {}) } : undefined;
      return { gateway, history: d.history };
    } catch {
      return { gateway: undefined, history: undefined };
    }
  }
}
