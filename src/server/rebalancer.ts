import type { Socket } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { ServerCache } from '../discovery/server-cache.js';
import type { ZkSession } from '../zk/session.js';
import {
  DEFAULT_REBALANCE_MIN_EXCESS,
  DEFAULT_REBALANCE_SETTLE_RATIO,
  DEFAULT_REBALANCE_TRIGGER_RATIO,
  isMovable,
  planRebalance,
  type ConnectionInfo,
  type RebalancePlan,
} from './rebalance-plan.js';

/** How often a server looks at the cluster and decides. */
export const DEFAULT_REBALANCE_INTERVAL_MS = 1_000;
/** Moves one server starts per second, at most. */
export const DEFAULT_REBALANCE_MAX_MOVES_PER_SECOND = 20;
/** Moves one server has outstanding (asked, not yet closed), at most. */
export const DEFAULT_REBALANCE_MAX_IN_FLIGHT = 50;
/** Connections younger than this are never asked to move. */
export const DEFAULT_REBALANCE_MIN_CONNECTION_AGE_MS = 5_000;
/** A connection that arrived through a migration is not moved again for this long. */
export const DEFAULT_REBALANCE_MIGRATED_COOLDOWN_MS = 300_000;
/**
 * After a server joins or leaves, wait this long (the wave settles) before deciding; connections
 * accepted within this window count as a wave still arriving.
 */
export const DEFAULT_REBALANCE_MEMBERSHIP_SETTLE_MS = 2_000;
/** A client asked to move that still holds its connection after this is left where it is (and exempt for the cooldown). */
export const DEFAULT_REBALANCE_MIGRATE_TIMEOUT_MS = 10_000;

export interface RebalancerOptions {
  /** @default DEFAULT_REBALANCE_INTERVAL_MS (1000) */
  intervalMs?: number;
  /** @default DEFAULT_REBALANCE_MAX_MOVES_PER_SECOND (20) */
  maxMovesPerSecond?: number;
  /** @default DEFAULT_REBALANCE_MAX_IN_FLIGHT (50) */
  maxInFlight?: number;
  /** Start moving above mean × (1 + this). @default DEFAULT_REBALANCE_TRIGGER_RATIO (0.1) */
  triggerRatio?: number;
  /** Keep moving until at most mean × (1 + this). @default DEFAULT_REBALANCE_SETTLE_RATIO (0) */
  settleRatio?: number;
  /** Never start for an excess smaller than this many connections. @default DEFAULT_REBALANCE_MIN_EXCESS (5) */
  minExcess?: number;
  /** @default DEFAULT_REBALANCE_MIN_CONNECTION_AGE_MS (5000) */
  minConnectionAgeMs?: number;
  /** @default DEFAULT_REBALANCE_MIGRATED_COOLDOWN_MS (300000) */
  migratedCooldownMs?: number;
  /** @default DEFAULT_REBALANCE_MEMBERSHIP_SETTLE_MS (2000) */
  membershipSettleMs?: number;
  /** @default DEFAULT_REBALANCE_MIGRATE_TIMEOUT_MS (10000) */
  migrateTimeoutMs?: number;
}

export type ResolvedRebalancerOptions = Required<RebalancerOptions>;

/** Defaults merged once and validated in one place. */
export function resolveRebalancerOptions(o: RebalancerOptions = {}): ResolvedRebalancerOptions {
  const r: ResolvedRebalancerOptions = {
    intervalMs: o.intervalMs ?? DEFAULT_REBALANCE_INTERVAL_MS,
    maxMovesPerSecond: o.maxMovesPerSecond ?? DEFAULT_REBALANCE_MAX_MOVES_PER_SECOND,
    maxInFlight: o.maxInFlight ?? DEFAULT_REBALANCE_MAX_IN_FLIGHT,
    triggerRatio: o.triggerRatio ?? DEFAULT_REBALANCE_TRIGGER_RATIO,
    settleRatio: o.settleRatio ?? DEFAULT_REBALANCE_SETTLE_RATIO,
    minExcess: o.minExcess ?? DEFAULT_REBALANCE_MIN_EXCESS,
    minConnectionAgeMs: o.minConnectionAgeMs ?? DEFAULT_REBALANCE_MIN_CONNECTION_AGE_MS,
    migratedCooldownMs: o.migratedCooldownMs ?? DEFAULT_REBALANCE_MIGRATED_COOLDOWN_MS,
    membershipSettleMs: o.membershipSettleMs ?? DEFAULT_REBALANCE_MEMBERSHIP_SETTLE_MS,
    migrateTimeoutMs: o.migrateTimeoutMs ?? DEFAULT_REBALANCE_MIGRATE_TIMEOUT_MS,
  };
  const nonNegative = ['maxInFlight', 'triggerRatio', 'settleRatio', 'minExcess', 'minConnectionAgeMs', 'migratedCooldownMs', 'membershipSettleMs'] as const;
  for (const k of nonNegative) if (!Number.isFinite(r[k]) || r[k] < 0) throw InvalidArgumentError.format(`rebalance.${k}`, `must be a non-negative number, got ${r[k]}`);
  for (const k of ['intervalMs', 'maxMovesPerSecond', 'migrateTimeoutMs'] as const) if (!Number.isFinite(r[k]) || r[k] <= 0) throw InvalidArgumentError.format(`rebalance.${k}`, `must be a positive number, got ${r[k]}`);
  if (r.settleRatio > r.triggerRatio) throw InvalidArgumentError.format('rebalance.settleRatio', `must not exceed triggerRatio (${r.triggerRatio}), got ${r.settleRatio}`);
  return r;
}

/** What the rebalancer needs from its server. */
export interface RebalanceHost {
  readonly id: string;
  readonly session: ZkSession;
  readonly root: string;
  /** Live connections with what is known about each. */
  connections(): Iterable<[Socket, ConnectionInfo]>;
  /** Asks one connection to move: a migrate frame, or a graceful close for a non-protocol client. */
  migrate(socket: Socket, reason: string, exclude: readonly string[]): void;
}

export interface RebalancerStats {
  /** Connections asked to move (migrate frames plus graceful closes). */
  asked: number;
  /** Of those, non-protocol connections closed gracefully. */
  closed: number;
  /** Asked connections that have gone (moved). */
  moved: number;
  /** Asked clients that stayed past the timeout. */
  stayed: number;
  /** Rounds that moved something. */
  rounds: number;
}

/**
 * The server-side rebalancing loop: a watch-driven cache of the cluster on the server's own
 * session, a timer, and the pure plan. It only ever asks; clients pick where they go.
 */
export class Rebalancer {
  readonly options: ResolvedRebalancerOptions;
  readonly cache: ServerCache;
  readonly stats: RebalancerStats = { asked: 0, closed: 0, moved: 0, stayed: 0, rounds: 0 };
  private readonly inFlight = new Map<Socket, number>();
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private membershipChangedAt = Date.now();
  private last: RebalancePlan | undefined;
  private readonly onMembership = () => (this.membershipChangedAt = Date.now());

  constructor(
    private readonly host: RebalanceHost,
    options: RebalancerOptions = {},
  ) {
    this.options = resolveRebalancerOptions(options);
    this.cache = new ServerCache({ session: host.session, root: host.root });
  }

  /** The last decision, for stats and logs. */
  get lastPlan(): RebalancePlan | undefined {
    return this.last;
  }

  start(): void {
    if (this.timer) return;
    this.cache.on('added', this.onMembership);
    this.cache.on('removed', this.onMembership);
    this.cache.on('error', () => {}); // counted in cache.stats; a tick just skips while the picture is missing
    void this.cache.start().catch(() => {});
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.cache.off('added', this.onMembership);
    this.cache.off('removed', this.onMembership);
    this.cache.close();
  }

  /** One decision round; public so tests and tools can drive it without waiting for the timer. */
  tick(now = Date.now()): RebalancePlan | undefined {
    const o = this.options;
    for (const [socket, askedAt] of this.inFlight) {
      if (now - askedAt < o.migrateTimeoutMs) continue;
      this.inFlight.delete(socket);
      this.stats.stayed++;
    }
    if (now - this.membershipChangedAt < o.membershipSettleMs) return undefined;
    // Without ZooKeeper the others' balances are frozen; moving on that picture is guessing.
    if (!this.host.session.isConnected) return undefined;
    const snapshot = this.cache.current();
    const eligible: [Socket, ConnectionInfo][] = [];
    let live = 0;
    let recentArrivals = 0;
    for (const entry of this.host.connections()) {
      live++;
      if (!entry[1].migratedIn && now - entry[1].acceptedAt < o.membershipSettleMs) recentArrivals++;
      if (!this.inFlight.has(entry[0]) && isMovable(entry[1], now, o)) eligible.push(entry);
    }
    const allowance = Math.min(Math.ceil((o.maxMovesPerSecond * o.intervalMs) / 1000), o.maxInFlight - this.inFlight.size);
    const plan = planRebalance({ servers: snapshot.servers, self: this.host.id, live, inFlight: this.inFlight.size, eligible: eligible.length, recentArrivals, allowance, active: this.active, thresholds: o });
    this.active = plan.active;
    this.last = plan;
    if (plan.move === 0) return plan;
    // Fulcrum clients first (they move make-before-break), oldest first within each kind.
    eligible.sort((a, b) => Number(b[1].protocol) - Number(a[1].protocol) || a[1].acceptedAt - b[1].acceptedAt);
    for (const [socket, info] of eligible.slice(0, plan.move)) {
      this.inFlight.set(socket, now);
      this.stats.asked++;
      if (!info.protocol) this.stats.closed++;
      socket.once('close', () => {
        if (this.inFlight.delete(socket)) this.stats.moved++;
      });
      // A client that does not move within the timeout is not asked again for the cooldown.
      info.exemptUntil = now + o.migrateTimeoutMs + o.migratedCooldownMs;
      this.host.migrate(socket, 'rebalance', plan.exclude);
    }
    this.stats.rounds++;
    return plan;
  }
}
