// ZooKeeper load as the cluster grows: a simulation (no processes) of balance writes and watch
// reads for 10 → 1,000 servers and 100 → 10,000 watching processes, with and without the
// adaptive publish policy (the real policy function decides every write).
import { publishDelay, type PublishPolicyOptions } from '../src/registry/publish-policy.js';
import { mulberry32 } from '../src/tools/seeded-random.js';

/** Capacity assumed for a 3-node ensemble: writes only, reads only. */
export const ENSEMBLE_WRITES_PER_SEC = 21_000;
export const ENSEMBLE_READS_PER_SEC = 87_000;
/** The discovery cache's full re-read period (ServerCache's default). */
export const RESYNC_INTERVAL_SEC = 30;

export interface ChurnOptions {
  /** New connections per second to this server (Poisson). */
  arrivalsPerSec: number;
  /** Mean connection lifetime (exponential); the server starts in steady state (arrivals × lifetime). */
  meanLifetimeSec: number;
  durationSec: number;
  seed: number;
}

export interface WriterOptions {
  /** The updater's minimum gap between writes. */
  minIntervalMs: number;
  /** Adaptive publishing; undefined = write every change after the minimum gap (the default today). */
  policy?: PublishPolicyOptions;
  maxConnections?: number;
}

export interface ServerSim {
  events: number;
  writes: number;
  writesPerSec: number;
  /** ZooKeeper held the live balance once the churn stopped and the last write was due. */
  finalExact: boolean;
  /** Largest gap between a change and the write that carried it (ms). */
  maxStalenessMs: number;
}

const exp = (random: () => number, mean: number) => -Math.log(1 - random()) * mean;

/** Connection events (+1 / −1, times in ms) of one server under steady churn. */
export function churnEvents(o: ChurnOptions): { initial: number; events: { t: number; d: 1 | -1 }[] } {
  const random = mulberry32(o.seed);
  const endMs = o.durationSec * 1000;
  const lifeMs = o.meanLifetimeSec * 1000;
  const events: { t: number; d: 1 | -1 }[] = [];
  const initial = Math.round(o.arrivalsPerSec * o.meanLifetimeSec);
  for (let i = 0; i < initial; i++) {
    const t = exp(random, lifeMs); // memoryless: a residual lifetime is a fresh one
    if (t < endMs) events.push({ t, d: -1 });
  }
  for (let t = exp(random, 1000 / o.arrivalsPerSec); t < endMs; t += exp(random, 1000 / o.arrivalsPerSec)) {
    events.push({ t, d: 1 });
    const end = t + exp(random, lifeMs);
    if (end < endMs) events.push({ t: end, d: -1 });
  }
  events.sort((a, b) => a.t - b.t);
  return { initial, events };
}

/**
 * Replays one server's events through the balance updater's scheduling: without a policy, a
 * change is written once the minimum gap has passed; with one, publishDelay decides, a pending
 * write is only ever brought forward, and the minimum gap still applies. Writes are instant
 * (real ones take about a millisecond and fold in what arrives meanwhile, so this over-counts).
 */
export function simulateServer(churn: ChurnOptions, writer: WriterOptions): ServerSim {
  const { initial, events } = churnEvents(churn);
  let current = initial;
  let published = initial;
  let publishedAt = -Infinity;
  let dirtySince: number | undefined;
  let due: number | undefined;
  let writes = 0;
  let maxStalenessMs = 0;
  const write = (t: number) => {
    published = current;
    publishedAt = t;
    writes++;
    if (dirtySince !== undefined) maxStalenessMs = Math.max(maxStalenessMs, t - dirtySince);
    dirtySince = undefined;
    due = undefined;
  };
  const schedule = (now: number) => {
    let wait = Math.max(0, publishedAt + writer.minIntervalMs - now);
    if (writer.policy) {
      wait = Math.max(wait, publishDelay({ published, publishedAt, current, now }, { maxConnections: writer.maxConnections }, { minIntervalMs: writer.minIntervalMs, ...writer.policy }));
      if (due !== undefined && now + wait >= due) return;
    } else if (due !== undefined) return;
    due = now + wait;
  };
  for (const e of events) {
    if (due !== undefined && due <= e.t) write(due);
    current += e.d;
    dirtySince ??= e.t;
    schedule(e.t);
  }
  if (due !== undefined) write(due);
  return { events: events.length, writes, writesPerSec: writes / churn.durationSec, finalExact: published === current, maxStalenessMs };
}

export interface ClusterLoad {
  servers: number;
  watchers: number;
  writesPerSec: number;
  /** Each write fires the data watch of every watcher, which reads the node again; plus the periodic resync. */
  readsPerSec: number;
}

export function clusterLoad(servers: number, watchers: number, writesPerServerPerSec: number): ClusterLoad {
  const writesPerSec = servers * writesPerServerPerSec;
  return { servers, watchers, writesPerSec, readsPerSec: watchers * (writesPerSec + (servers + 1) / RESYNC_INTERVAL_SEC) };
}

/** Watching processes one ensemble serves for `servers` servers (reads bound; writes bound gives 0). */
export function maxWatchers(servers: number, writesPerServerPerSec: number): number {
  if (servers * writesPerServerPerSec > ENSEMBLE_WRITES_PER_SEC) return 0;
  return Math.floor(ENSEMBLE_READS_PER_SEC / (servers * writesPerServerPerSec + (servers + 1) / RESYNC_INTERVAL_SEC));
}

export interface ModelOptions {
  /** Servers sampled (each with its own churn rate); the cluster is scaled from their mean. @default 24 */
  sample?: number;
  /** @default 120 */
  durationSec?: number;
  /** Median arrivals per second per server; rates are log-normal around it (σ = 1). @default 10 */
  medianArrivalsPerSec?: number;
  /** @default 60 */
  meanLifetimeSec?: number;
  /** @default 20 (the updater's default) */
  minIntervalMs?: number;
  policy?: PublishPolicyOptions;
  seed?: number;
}

export interface ModelResult {
  /** Mean over the sampled servers. */
  perServer: { events: number; writesOff: number; writesOn: number; maxStalenessOnMs: number; allExact: boolean; meanBalance: number };
  rows: { servers: number; watchers: number; off: ClusterLoad; on: ClusterLoad }[];
  maxWatchers: { servers: number; off: number; on: number }[];
}

export const MODEL_SERVERS = [10, 30, 100, 300, 1000];
export const MODEL_WATCHERS = [100, 1000, 10_000];

export function runModel(o: ModelOptions = {}): ModelResult {
  const sample = o.sample ?? 24;
  const durationSec = o.durationSec ?? 120;
  const random = mulberry32(o.seed ?? 11);
  const minIntervalMs = o.minIntervalMs ?? 20;
  let events = 0;
  let off = 0;
  let on = 0;
  let staleness = 0;
  let allExact = true;
  let balance = 0;
  for (let i = 0; i < sample; i++) {
    // Box-Muller normal for a log-normal spread of busy and quiet servers.
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const churn = { arrivalsPerSec: (o.medianArrivalsPerSec ?? 10) * Math.exp(z), meanLifetimeSec: o.meanLifetimeSec ?? 60, durationSec, seed: (o.seed ?? 11) * 1000 + i };
    const a = simulateServer(churn, { minIntervalMs });
    const b = simulateServer(churn, { minIntervalMs, policy: o.policy ?? {} });
    events += a.events / durationSec;
    off += a.writesPerSec;
    on += b.writesPerSec;
    staleness = Math.max(staleness, b.maxStalenessMs);
    allExact &&= a.finalExact && b.finalExact;
    balance += churn.arrivalsPerSec * churn.meanLifetimeSec;
  }
  const perServer = { events: events / sample, writesOff: off / sample, writesOn: on / sample, maxStalenessOnMs: staleness, allExact, meanBalance: balance / sample };
  const rows = MODEL_SERVERS.flatMap((servers) =>
    MODEL_WATCHERS.map((watchers) => ({ servers, watchers, off: clusterLoad(servers, watchers, perServer.writesOff), on: clusterLoad(servers, watchers, perServer.writesOn) })),
  );
  const maxW = MODEL_SERVERS.map((servers) => ({ servers, off: maxWatchers(servers, perServer.writesOff), on: maxWatchers(servers, perServer.writesOn) }));
  return { perServer, rows, maxWatchers: maxW };
}
