import type { ServerInfo, Snapshot } from '../discovery/snapshot.js';

/** What a strategy may look at besides the snapshot. Everything here is read-only. */
export interface PickContext {
  /** Caller key for sticky strategies (e.g. a user id). */
  readonly key?: string;
  /** Picks this process made that the servers have not reported yet, by server name. */
  readonly pending: ReadonlyMap<string, number>;
  /** Uniform [0,1) source; injectable so tests are deterministic. */
  readonly random: () => number;
  /** Monotonic per-provider counter, for round-robin. */
  readonly sequence: number;
}

/**
 * A pure function of an immutable snapshot: returns the server to use, or undefined when
 * none can take a connection. Candidates are already filtered (not draining, not full,
 * not quarantined) when a strategy sees them.
 */
export type Strategy = (candidates: readonly Readonly<ServerInfo>[], snapshot: Snapshot, ctx: PickContext) => Readonly<ServerInfo> | undefined;

/** A server's load as this process believes it: reported balance plus its own unreported picks. */
export function effectiveLoad(s: Readonly<ServerInfo>, ctx: PickContext): number {
  return s.balance + (ctx.pending.get(s.name) ?? 0);
}
