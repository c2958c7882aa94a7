// When to publish a balance change: at once when it matters for picking, otherwise after a
// window that shrinks as the change grows. Pure: the balance updater and the load model call it.

/** Floor between two writes of one node, as in the balance updater. @default 20 */
export const DEFAULT_PUBLISH_MIN_INTERVAL_MS = 20;
/** Longest a change waits: every change is published within this, so the balance is exact at quiesce. @default 1000 */
export const DEFAULT_PUBLISH_MAX_DELAY_MS = 1_000;
/** A change of this fraction of the published balance is written at once. @default 0.1 */
export const DEFAULT_SIGNIFICANT_CHANGE = 0.1;
/** Balances below this are a server's first (or last) connections: always written at once. @default 8 */
export const DEFAULT_FIRST_CONNECTIONS = 8;
/** A server within this many connections of the cluster's lowest balance is in the lowest group. @default 1 */
export const DEFAULT_LOWEST_BAND = 1;

export interface PublishState {
  /** The balance ZooKeeper holds (our last write). */
  published: number;
  /** When that write happened (ms, same clock as `now`). */
  publishedAt: number;
  /** The live balance. */
  current: number;
  now: number;
}

export interface PublishContext {
  /** Metadata other than the balance changed (draining): always written at once. */
  metadataChanged?: boolean;
  /** The server's connection cap, if any: reaching or leaving it is written at once. */
  maxConnections?: number;
  /** The lowest balance in the cluster as this server last saw it; unknown leaves the rule out. */
  clusterMin?: number;
}

export interface PublishPolicyOptions {
  /** @default DEFAULT_PUBLISH_MIN_INTERVAL_MS (20) */
  minIntervalMs?: number;
  /** @default DEFAULT_PUBLISH_MAX_DELAY_MS (1000) */
  maxDelayMs?: number;
  /** @default DEFAULT_SIGNIFICANT_CHANGE (0.1) */
  significantChange?: number;
  /** @default DEFAULT_FIRST_CONNECTIONS (8) */
  firstConnections?: number;
  /** @default DEFAULT_LOWEST_BAND (1) */
  lowestBand?: number;
}

/** Why a change is published at once; undefined when it may wait. */
export function urgentReason(s: PublishState, ctx: PublishContext = {}, opts: PublishPolicyOptions = {}): string | undefined {
  const first = opts.firstConnections ?? DEFAULT_FIRST_CONNECTIONS;
  if (ctx.metadataChanged) return 'metadata';
  if (s.current === s.published) return undefined;
  if (s.published < first || s.current < first) return 'first-connections';
  const max = ctx.maxConnections;
  if (max !== undefined && s.current >= max !== s.published >= max) return 'cap';
  if (ctx.clusterMin !== undefined) {
    const band = ctx.clusterMin + (opts.lowestBand ?? DEFAULT_LOWEST_BAND);
    if (s.current <= band !== s.published <= band) return 'lowest-group';
  }
  const significant = opts.significantChange ?? DEFAULT_SIGNIFICANT_CHANGE;
  if (Math.abs(s.current - s.published) >= significant * Math.max(1, s.published)) return 'large-change';
  return undefined;
}

/**
 * Milliseconds to wait before writing (0 = now). Urgent changes wait only for the minimum gap
 * after the last write; others wait up to `maxDelayMs` after it, less the larger the change.
 */
export function publishDelay(s: PublishState, ctx: PublishContext = {}, opts: PublishPolicyOptions = {}): number {
  const minInterval = Math.max(0, opts.minIntervalMs ?? DEFAULT_PUBLISH_MIN_INTERVAL_MS);
  const maxDelay = Math.max(minInterval, opts.maxDelayMs ?? DEFAULT_PUBLISH_MAX_DELAY_MS);
  let window = minInterval;
  if (urgentReason(s, ctx, opts) === undefined) {
    const significant = opts.significantChange ?? DEFAULT_SIGNIFICANT_CHANGE;
    const share = Math.min(1, Math.abs(s.current - s.published) / (significant * Math.max(1, s.published)));
    window = Math.max(minInterval, maxDelay * (1 - share));
  }
  return Math.max(0, s.publishedAt + window - s.now);
}
