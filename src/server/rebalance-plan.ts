/** How far above the mean a server must be before it starts moving clients (0.1 = 10 %). */
export const DEFAULT_REBALANCE_TRIGGER_RATIO = 0.1;
/** Once moving, a server keeps moving until it is at most this far above the mean (0 = the mean, rounded up). */
export const DEFAULT_REBALANCE_SETTLE_RATIO = 0;
/** Excess (connections over the mean) below which a server never starts moving, whatever the ratio says. */
export const DEFAULT_REBALANCE_MIN_EXCESS = 5;

export interface PlanServer {
  readonly name: string;
  readonly balance: number;
  readonly draining?: boolean;
  readonly maxConnections?: number;
}

export interface PlanThresholds {
  /** @default DEFAULT_REBALANCE_TRIGGER_RATIO (0.1) */
  triggerRatio: number;
  /** @default DEFAULT_REBALANCE_SETTLE_RATIO (0) */
  settleRatio: number;
  /** @default DEFAULT_REBALANCE_MIN_EXCESS (5) */
  minExcess: number;
}

export interface PlanInput {
  /** The cluster as this server's cache sees it (its own entry is replaced by `live`). */
  servers: readonly PlanServer[];
  /** This server's node name. */
  self: string;
  /** This server's exact live connection count. */
  live: number;
  /** Connections already asked to move that have not closed yet. */
  inFlight: number;
  /** Connections that may be asked now (old enough, not recently migrated, not in flight). */
  eligible: number;
  /** Moves the rate limit allows this round. */
  allowance: number;
  /**
   * Connections this server accepted recently (not through a migration): while a wave of
   * arrivals (e.g. a failover's orphans) is still landing, the picture is not settled.
   * @default 0
   */
  recentArrivals?: number;
  /** Hysteresis state: whether the previous round was moving. */
  active: boolean;
  thresholds: PlanThresholds;
}

export interface RebalancePlan {
  /** Connections to ask to move now. */
  move: number;
  /** Hysteresis state for the next round. */
  active: boolean;
  /** Mean connections per open server. */
  target: number;
  /** This server's own excess over the level it settles at, after in-flight moves. */
  excess: number;
  /** Free places below the mean on the other servers. */
  room: number;
  /** Servers at or above their share: the moved clients must not pick them. */
  exclude: string[];
  /** Why the plan moves nothing or what limited it. */
  reason: string;
}

/** What the rebalancer knows about one connection. */
export interface ConnectionInfo {
  /** Epoch ms of the accept. */
  readonly acceptedAt: number;
  /** It sent a fulcrum frame (a ping), so it understands `migrate`. */
  protocol: boolean;
  /** It said it arrived here through a migration. */
  migratedIn: boolean;
  /** Not to be asked again before this (epoch ms), e.g. after it failed to move. */
  exemptUntil?: number;
}

export interface MovableRules {
  /** Connections younger than this are never asked to move. */
  minConnectionAgeMs: number;
  /** A connection that arrived through a migration is left alone this long after it arrived. */
  migratedCooldownMs: number;
}

/** Whether a connection may be asked to move now: old enough, not freshly migrated, not exempt. */
export function isMovable(info: Readonly<ConnectionInfo>, now: number, rules: MovableRules): boolean {
  const age = now - info.acceptedAt;
  if (age < rules.minConnectionAgeMs) return false;
  if (info.migratedIn && age < rules.migratedCooldownMs) return false;
  return info.exemptUntil === undefined || now >= info.exemptUntil;
}

/**
 * The rebalancing decision, a pure function of one snapshot and this server's own state.
 *
 * Each server moves at most its own excess over the mean and at most its share of the room the
 * others have below it, all read from the same picture. So servers acting on the same snapshot
 * move together no more than the deficit. In-flight moves count as already gone from this server
 * and as not yet arrived anywhere — both conservative.
 */
export function planRebalance(input: PlanInput): RebalancePlan {
  const { thresholds: t } = input;
  const me = input.servers.find((s) => s.name === input.self);
  const idle = (reason: string, target = 0, excess = 0, room = 0): RebalancePlan => ({ move: 0, active: false, target, excess, room, exclude: [], reason });
  if (!me) return idle('own node not in the snapshot');
  if (me.draining) return idle('draining');
  const open = input.servers.filter((s) => !s.draining);
  if (open.length < 2) return idle('no other server');
  const balanceOf = (s: PlanServer) => (s.name === input.self ? input.live : s.balance);
  const total = open.reduce((sum, s) => sum + balanceOf(s), 0);
  const target = total / open.length;
  const own = input.live - input.inFlight;
  if ((input.recentArrivals ?? 0) > Math.max(t.minExcess, t.triggerRatio * target)) return idle('arrivals still settling', target);
  const settleLevel = Math.ceil(target * (1 + t.settleRatio));
  const triggerLevel = Math.max(target * (1 + t.triggerRatio), target + t.minExcess);
  const active = input.active ? own > settleLevel : own > triggerLevel;
  const excessOf = (b: number) => Math.max(0, b - settleLevel);
  const excess = excessOf(own);
  const others = open.filter((s) => s.name !== input.self);
  const roomOf = (s: PlanServer) => Math.max(0, Math.min(Math.floor(target), s.maxConnections ?? Infinity) - s.balance);
  // Our own in-flight clients land in that room before the snapshot shows them there.
  const room = Math.max(0, others.reduce((sum, s) => sum + roomOf(s), 0) - input.inFlight);
  const exclude = open.filter((s) => s.name === input.self || roomOf(s) === 0).map((s) => s.name);
  if (!active) return { ...idle(input.active ? 'settled' : 'within the trigger band', target, excess, room), exclude };
  // Overloaded peers claim the same room; take only our proportional share of it.
  const totalExcess = excess + others.reduce((sum, s) => sum + excessOf(s.balance), 0);
  const share = totalExcess === 0 ? 0 : Math.floor((room * excess) / totalExcess);
  const limits: [number, string][] = [
    [excess, 'own excess'],
    [share, 'share of the room'],
    [Math.max(0, input.allowance), 'rate limit'],
    [Math.max(0, input.eligible), 'eligible connections'],
  ];
  const [move, reason] = limits.reduce((a, b) => (b[0] < a[0] ? b : a));
  return { move, active, target, excess, room, exclude, reason: move === 0 ? `nothing to move: ${reason}` : `limited by ${reason}` };
}
