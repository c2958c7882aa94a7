import { ClosedError } from '../../errors.js';
import { sessionClient } from '../../discovery/read-servers.js';
import { decodeServerData } from '../../server-data.js';
import { C, isZk } from '../../zk/codes.js';
import { mkdirp } from '../../zk/paths.js';
import type { ZkSession } from '../../zk/session.js';
import type { ZkClient } from '../../zk/zk-client.js';

/** Backoff of a failed listing before it is tried again. */
const RETRY_MS = 250;

export interface GatewayAddress {
  ip: string;
  port: number;
}


/**
 * Which servers exist and where their gateways are. Unlike the balance cache it watches only the
 * child list: a gateway address never changes while a node lives, so balance writes cost nothing here.
 */
export class GatewayDirectory {
  private zk: ZkClient | undefined;
  private unwatch: (() => void) | undefined;
  private readonly gateways = new Map<string, GatewayAddress | undefined>();
  private closed = false;
  private started: Promise<void> | undefined;
  private listing: { dirty: boolean } | undefined;
  /** Told when a server's node is gone (close its gateway connection). */
  onRemoved: ((name: string) => void) | undefined;

  private readonly onChild = (path: string) => {
    if (path === this.root) void this.list();
  };
  private readonly onSession = () => {
    let zk: ZkClient;
    try {
      zk = this.session.client;
    } catch {
      return;
    }
    if (this.closed || zk === this.zk) return;
    this.adopt(zk);
    void this.list(true);
  };
  private readonly onReconnected = () => {
    if (!this.closed) void this.list(true);
  };

  constructor(
    private readonly session: ZkSession,
    private readonly root: string,
  ) {}

  start(): Promise<void> {
    this.started ??= (async () => {
      if (this.closed) throw new ClosedError('GatewayDirectory');
      this.session.on('session', this.onSession);
      this.session.on('reconnected', this.onReconnected);
      const zk = await sessionClient(this.session);
      await mkdirp(zk, this.root);
      if (this.zk !== zk) this.adopt(zk);
      await this.list(true);
    })();
    return this.started;
  }

  /** Registered servers (whether or not they publish a gateway). */
  names(): string[] {
    return [...this.gateways.keys()];
  }

  /** The gateway of a registered server, undefined when it has none (or is not registered). */
  get(name: string): GatewayAddress | undefined {
    return this.gateways.get(name);
  }

  has(name: string): boolean {
    return this.gateways.has(name);
  }

  /** Reads one server's node again (its gateway may have moved: a restart under the same name). */
  async refresh(name: string): Promise<void> {
    const zk = this.zk;
    if (!zk || this.closed) return;
    try {
      const { data } = await zk.get(`${this.root}/${name}`);
      this.gateways.set(name, this.decode(data));
    } catch (e) {
      if (isZk(e, C.ZNONODE)) this.remove(name);
    }
  }

  close(): void {
    this.closed = true;
    this.session.off('session', this.onSession);
    this.session.off('reconnected', this.onReconnected);
    this.detach();
  }

  private adopt(zk: ZkClient): void {
    this.detach();
    this.zk = zk;
    this.unwatch = zk.watch({ child: this.onChild });
  }

  private detach(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.zk = undefined;
  }

  private decode(data: Buffer): GatewayAddress | undefined {
    try {
      const d = decodeServerData(data);
      return d.gatewayIp !== undefined && d.gatewayPort !== undefined ? { ip: d.gatewayIp, port: d.gatewayPort } : undefined;
    } catch {
      return undefined;
    }
  }

  private remove(name: string): void {
    if (this.gateways.delete(name)) this.onRemoved?.(name);
  }

  private async list(all = false): Promise<void> {
    if (this.listing && !all) {
      this.listing.dirty = true;
      return;
    }
    const run = { dirty: true };
    this.listing = run;
    try {
      while (run.dirty && !this.closed) {
        run.dirty = false;
        const zk = this.zk;
        if (!zk) return;
        let names: string[];
        try {
          names = await zk.children(this.root, true);
        } catch (e) {
          if (isZk(e, C.ZNONODE)) await mkdirp(zk, this.root).catch(() => {});
          setTimeout(() => void this.list(all), RETRY_MS).unref();
          return;
        }
        const next = new Set(names);
        for (const name of [...this.gateways.keys()]) if (!next.has(name)) this.remove(name);
        await Promise.all(names.filter((n) => all || !this.gateways.has(n)).map((n) => this.refresh(n)));
      }
    } finally {
      if (this.listing === run) this.listing = undefined;
    }
  }
}
