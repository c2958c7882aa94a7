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
  /** Epoch ms of this pick, to age the picture and the servers' accept rates. @default snapshot.at */
  readonly now?: number;
  /**
   * Connections of servers this pick has to avoid although they are still in the picture
   * (draining, or excluded because this client just lost or failed them): they are about to
   * re-home, like this one. @default 0
   */
  readonly displaced?: number;
  /** Picks this picker itself made in the last ACCEPT_RATE_WINDOW_MS (part of what the accept rates show). @default 0 */
  readonly ownRecentPicks?: number;
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
