// What the soak does to ZooKeeper connections, one fault at a time: a pure schedule from a seeded PRNG.

/**
 * `cut`: the proxy destroys every ZooKeeper connection behind it (connection loss, same session).
 * `partition`: the proxy holds all traffic both ways for `ms`, losing nothing, as TCP does in a
 * partition (the clients' receive timeouts close their connections; past the session timeout the
 * sessions behind it expire). `pause-server` / `pause-watcher`: SIGSTOP of one such process for
 * `ms`, then SIGCONT. (Dropping bytes is left out: it loses them in the middle of a TCP stream,
 * which no network does, and the C client then fails requests with ZRUNTIMEINCONSISTENCY.)
 */
export type FaultKind = 'cut' | 'partition' | 'pause-server' | 'pause-watcher';

export interface Fault {
  kind: FaultKind;
  /** How long it lasts (0 for a cut). */
  ms: number;
  /** Which process a pause hits (an index into the servers or the watchers). */
  target: number;
  /** It outlasts the session timeout: the sessions it hits expire. */
  long: boolean;
}

export interface FaultPlanOptions {
  sessionTimeoutMs: number;
  servers: number;
  watchers: number;
  /** Share of partitions and pauses that outlast the session timeout. @default 0.2 */
  longShare?: number;
}

const KINDS: readonly FaultKind[] = ['cut', 'partition', 'pause-server', 'pause-watcher'];

/**
 * The next fault each time it is called. The first ones cover every kind, short and long (in a
 * seeded order), so even a short run sees each; after that the kind and length are drawn.
 */
export function faultPlan(random: () => number, o: FaultPlanOptions): () => Fault {
  const kinds = KINDS.filter((k) => k !== 'pause-watcher' || o.watchers > 0);
  const short = () => Math.round(o.sessionTimeoutMs * (0.1 + 0.4 * random()));
  const long = () => Math.round(o.sessionTimeoutMs * (1.5 + 0.5 * random()));
  const make = (kind: FaultKind, isLong: boolean): Fault => ({
    kind,
    ms: kind === 'cut' ? 0 : isLong ? long() : short(),
    target: Math.floor(random() * (kind === 'pause-watcher' ? Math.max(1, o.watchers) : o.servers)),
    long: kind !== 'cut' && isLong,
  });
  const first: [FaultKind, boolean][] = kinds.map((k): [FaultKind, boolean] => [k, false]);
  first.push(['partition', true], ['pause-server', true]);
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [first[i], first[j]] = [first[j]!, first[i]!];
  }
  return () => {
    const next = first.shift();
    if (next) return make(next[0], next[1]);
    const kind = kinds[Math.floor(random() * kinds.length)]!;
    return make(kind, random() < (o.longShare ?? 0.2));
  };
}
