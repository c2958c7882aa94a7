import { NoServersError } from '../errors.js';
import { DEFAULT_STRATEGY } from './strategy-registry.js';
import { PendingPicks } from './pending-picks.js';
import { RecentPicks } from './recent-picks.js';
import { type PickContext, type Strategy } from './strategy.js';
import { getStrategy } from './strategy-registry.js';
import type { ServerInfo, ServerSource, Snapshot } from '../discovery/snapshot.js';

export interface BalanceProviderOptions {
  /** Where the picture of the cluster comes from. */
  source: ServerSource;
  /**
   * A registered strategy name or a strategy function.
   * @default DEFAULT_STRATEGY ('water-fill')
   */
  strategy?: string | Strategy;
  /**
   * Count this process's unreported picks. Off is the naive seed behaviour, which herds.
   * @default true
   */
  pending?: boolean;
  /**
   * Uniform [0,1) source handed to strategies.
   * @default Math.random
   */
  random?: () => number;
  /**
   * How long an unreported pick counts.
   * @default DEFAULT_PENDING_TTL_MS (5000)
   */
  pendingTtlMs?: number;
  /**
   * Clock for pending-pick expiry and for the age strategies give the picture (PickContext.now); injectable for tests.
   * @default Date.now
   */
  now?: () => number;
  /** Servers to avoid for now (e.g. recent connect failures); ignored if it would leave none. */
  isQuarantined?: (name: string) => boolean;
  /**
   * Servers this client just lost or failed to reach (e.g. `DownInstancePolicy.hasFailed`). An
   * excluded server that is failing counts as displaced load (PickContext.displaced): its other
   * clients are re-homing too. An excluded healthy server (a client leaving on purpose, e.g. a
   * migration) does not.
   * @default no server counts as failing
   */
  isFailing?: (name: string) => boolean;
  /**
   * Named in NoServersError.
   * @default '(discovery)'
   */
  root?: string;
}

export interface PickOptions {
  /** Sticky key for the hash strategy. */
  key?: string;
  /** Servers not to pick, e.g. ones already tried for this connect. */
  exclude?: ReadonlySet<string>;
}

const NO_PENDING: ReadonlyMap<string, number> = new Map();

/**
 * Picks the server for a new connection: gets the candidates, filters out those that cannot take a
 * connection, runs the strategy, and remembers the pick until the servers report it.
 */
export class BalanceProvider {
  private readonly source: ServerSource;
  private readonly strategy: Strategy;
  private readonly pendingPicks: PendingPicks | undefined;
  private readonly random: () => number;
  private readonly isQuarantined: ((name: string) => boolean) | undefined;
  private readonly isFailing: ((name: string) => boolean) | undefined;
  private readonly root: string;
  private readonly now: () => number;
  private readonly recent = new RecentPicks();
  private sequence = 0;

  constructor(options: BalanceProviderOptions) {
    this.source = options.source;
    const strategy = options.strategy ?? DEFAULT_STRATEGY;
    // Resolve now so a bad --strategy fails at start-up, not at the first connect.
    this.strategy = typeof strategy === 'string' ? getStrategy(strategy) : strategy;
    this.pendingPicks =
      options.pending === false ? undefined : new PendingPicks({ ttlMs: options.pendingTtlMs, now: options.now });
    this.random = options.random ?? Math.random;
    this.isQuarantined = options.isQuarantined;
    this.isFailing = options.isFailing;
    this.root = options.root ?? '(discovery)';
    this.now = options.now ?? Date.now;
  }

  /** Picks a server from a fresh snapshot of the source. Throws NoServersError if none fits. */
  async pick(opts: PickOptions = {}): Promise<Readonly<ServerInfo>> {
    return this.pickSync(await this.source.snapshot(), opts);
  }

  /** Picks from a snapshot the caller already holds. Throws NoServersError if none fits. */
  pickSync(snapshot: Snapshot, opts: PickOptions = {}): Readonly<ServerInfo> {
    const pending = this.pendingPicks;
    const view = this.reconcile(snapshot);
    const exclude = opts.exclude;
    const open = snapshot.servers.filter(
      (s) =>
        !s.draining &&
        (s.maxConnections === undefined || s.balance + (view.get(s.name) ?? 0) < s.maxConnections) &&
        !exclude?.has(s.name),
    );
    const isQuarantined = this.isQuarantined;
    const healthy = isQuarantined ? open.filter((s) => !isQuarantined(s.name)) : open;
    // Quarantine is a preference: a suspect server beats refusing to connect at all.
    const candidates = healthy.length > 0 ? healthy : open;
    // Clients of a listed server that is draining, or that this client just lost, are leaving it too.
    const isFailing = this.isFailing;
    let displaced = 0;
    for (const s of snapshot.servers) if (s.draining || (isFailing && exclude?.has(s.name) && isFailing(s.name))) displaced += s.balance;
    const now = this.now();
    const ctx: PickContext = {
      key: opts.key,
      pending: view,
      random: this.random,
      sequence: this.sequence++,
      now,
      displaced,
      ownRecentPicks: this.recent.count(now),
    };
    const chosen = candidates.length > 0 ? this.strategy(candidates, snapshot, ctx) : undefined;
    if (!chosen) throw new NoServersError(this.root);
    pending?.add(chosen.name);
    this.recent.add(now);
    return chosen;
  }

  /** Settles pending picks against `snapshot` (retire reported ones, expire old ones) without picking. */
  reconcile(snapshot: Snapshot): ReadonlyMap<string, number> {
    const pending = this.pendingPicks;
    if (!pending) return NO_PENDING;
    pending.observe(snapshot);
    pending.expire();
    return pending.view;
  }

  /** Forgets a pick whose connect failed, so it stops counting against that server. */
  release(name: string): void {
    this.pendingPicks?.release(name);
  }

  /** Unreported picks per server (empty when pending counting is off). */
  get pending(): ReadonlyMap<string, number> {
    return this.pendingPicks?.view ?? NO_PENDING;
  }
}
