// The one rule that decides which of a user's logins is the latest, in every process.

/** Ordering token of a login: compared by `since`, then `server`, then `seq` (a total order, the same in every process). */
export interface LoginOrder {
  /** Epoch ms of the login, raised above any login of the user the server already knew (so a re-login always wins). */
  since: number;
  /** Id of the server holding the connection. */
  server: string;
  /** That server's login counter: orders two logins on one server within one millisecond. */
  seq: number;
}

/** Negative when `a` is older than `b`. */
export function compareLogins(a: LoginOrder, b: LoginOrder): number {
  if (a.since !== b.since) return a.since - b.since;
  if (a.server !== b.server) return a.server < b.server ? -1 : 1;
  return a.seq - b.seq;
}

/**
 * The token of a new login on `server`: `since` is the clock, raised above every login of the
 * user this server knows of (its own, and the best route any server published), whatever the
 * clocks say. So a re-login beats the login it replaces.
 */
export function nextLogin(server: string, seq: number, known: readonly (LoginOrder | undefined)[], now = Date.now()): LoginOrder {
  let since = now;
  for (const k of known) if (k && k.since >= since) since = k.since + 1;
  return { since, server, seq };
}
