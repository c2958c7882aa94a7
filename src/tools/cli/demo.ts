import { runCli, parseCli, intFlag, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP, cliLogger, logLevelOf, UsageError } from './args.js';
import { ServerRunner } from '../runner/server-runner.js';
import { ClientRunner } from '../runner/client-runner.js';
import { CLIENT_MIN_READ_INTERVAL_MS, ServerCache } from '../../discovery/server-cache.js';
import { ZkSession } from '../../zk/session.js';
import { DEFAULT_ZK_CONNECT } from '../../zk/connect-string.js';
import { ensureZk } from '../local-zookeeper.js';
import { renderBalanceTable, spreadOf, formatSpread } from '../balance-table.js';
import { LiveView } from './live-view.js';
import { DEFAULT_STRATEGY } from '../../balancing/index.js';
import { AllocService } from '../../alloc/alloc-service.js';
import type { ReceivedMessage } from '../../client/messaging-session.js';
import { ClusterClient } from '../../client/cluster-client.js';
import { BalanceProvider } from '../../balancing/balance-provider.js';
import { checkRedisUrl } from '../../messaging/history/redis-history.js';
import { DEFAULT_REDIS_URL, ensureRedis } from '../local-redis.js';

/** How long the demo waits for its push and broadcast to arrive at the clients. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** How long the history part waits for the rebalancer to move clients to the added server. */
const MOVE_TIMEOUT_MS = 20_000;
/** The demo's few clients still show a move: the rebalancer's default minimum excess (5) would leave 12 over 3 servers alone. */
const DEMO_REBALANCE = { minExcess: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with how many clients received a message `matches` accepts, once `want` did or the time is up. */
function receipts(clients: ClientRunner, matches: (m: ReceivedMessage) => boolean, want: number, timeoutMs: number): Promise<Set<number>> {
  const got = new Set<number>();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      clients.off('message', on);
      resolve(got);
    };
    const on = (i: number, m: ReceivedMessage) => {
      if (!matches(m)) return;
      got.add(i);
      if (got.size >= want) done();
    };
    const timer = setTimeout(done, timeoutMs);
    clients.on('message', on);
  });
}

const HELP = `
usage: npm run demo [-- options]

Starts ZooKeeper when none answers, 5 servers (one process each), the allocation service with
its dashboard, and 200 clients started 10 ms apart, each logged in as a user (user-0, user-1, …).
Shows the live balance table while it converges, prints the final spread, checks every node's
balance against the server's real socket count, pushes one message to a user and one broadcast
to everybody and shows that both arrived. With message history (on unless --no-history; a local
Redis is started when none answers at the default address) it then pushes to a user who is
offline and shows the message arriving at its login, and adds a server: the rebalancer moves
clients to it while every user is pushed to, and every move recovers what was sent meanwhile.
Then it exits cleanly.

  --servers N      servers to start (default 5)
  --clients M      clients to start (default 200)
  --stagger-ms S   gap between client starts (default 10)
  --strategy NAME  picking strategy (default ${DEFAULT_STRATEGY})
  --alloc-port P   port of the allocation service and dashboard (default 9999; 0 = any free)
  --hold-ms H      keep everything running H ms after converging, to look at the dashboard (default 0)
  --no-rebalance   servers do not move clients to even out (on by default)
  --redis URL      Redis for the message history (env FULCRUM_REDIS, default ${DEFAULT_REDIS_URL};
                   started from .redis/ when nothing answers there)
  --no-history     no message history (no Redis)
${ZK_HELP}
The demo logs at warn unless --log-level or FULCRUM_LOG_LEVEL says otherwise, so the table stays readable.`;

runCli('demo', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    { ...ZK_OPTIONS, servers: { type: 'string' }, clients: { type: 'string' }, 'stagger-ms': { type: 'string' }, strategy: { type: 'string' }, 'alloc-port': { type: 'string' }, 'hold-ms': { type: 'string' }, 'no-rebalance': { type: 'boolean' }, redis: { type: 'string' }, 'no-history': { type: 'boolean' } },
    HELP,
  );
  const { zk, root } = zkTarget(values);
  const nServers = intFlag(values, 'servers', 5, 1, 50);
  const nClients = intFlag(values, 'clients', 200, 1, 10_000);
  const staggerMs = intFlag(values, 'stagger-ms', 10, 0, 10_000);
  const allocPort = intFlag(values, 'alloc-port', 9999, 0, 65535);
  const holdMs = intFlag(values, 'hold-ms', 0, 0, 3_600_000);
  const redis = values['no-history'] ? undefined : (values.redis ?? (process.env.FULCRUM_REDIS || DEFAULT_REDIS_URL));
  if (values['no-history'] && values.redis !== undefined) throw new UsageError('--redis does not go with --no-history');
  if (redis !== undefined) {
    try {
      checkRedisUrl(redis);
    } catch (e) {
      throw new UsageError(`--redis: ${(e as Error).message}`);
    }
  }
  const t0 = Date.now();
  const log = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);

  const stopZk = await ensureZk(zk, DEFAULT_ZK_CONNECT, log);
  log(`ZooKeeper ${zk} is serving`);
  const stopRedis = redis === undefined ? async () => {} : await ensureRedis(redis, log).catch(async (e: unknown) => {
    await stopZk();
    throw e;
  });
  if (redis !== undefined) log(`Redis ${redis} keeps the message history`);
  const history = redis === undefined ? undefined : { redis };

  const logger = cliLogger('demo', values, 'warn');
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 10_000 });
  const servers = new ServerRunner({ count: nServers, zk, root, host: '127.0.0.1', logger, logLevel: logLevelOf(values, 'warn'), rebalance: values['no-rebalance'] ? false : DEMO_REBALANCE, history });
  let clients: ClientRunner | undefined;
  let cache: ServerCache | undefined;
  let view: LiveView | undefined;
  const redraw = () => view?.invalidate();
  // The table is done once the final one is printed: later balance changes must not redraw it.
  const stopView = () => {
    cache?.off('snapshot', redraw);
    view?.close();
  };
  let alloc: AllocService | undefined;
  try {
    await session.start();
    for (const s of await servers.start()) log(`server ${s.index} ${s.ip}:${s.port} pid ${s.pid} registered ${s.path}`);
    cache = new ServerCache({ session, root, minReadIntervalMs: CLIENT_MIN_READ_INTERVAL_MS });
    cache.on('error', (e) => logger.warn({ err: e, code: (e as { code?: string }).code }, `server cache: ${e.message}`));
    await cache.start();
    try {
      alloc = new AllocService({ session, root, port: allocPort, logger, history });
      log(`dashboard and allocation service: ${(await alloc.start()).url}`);
    } catch (e) {
      // A busy port must not spoil the demo: fall back to any free port.
      alloc = new AllocService({ session, root, port: 0, logger, history });
      log(`port ${allocPort} unavailable (${(e as Error).message}); dashboard: ${(await alloc.start()).url}`);
    }
    view = new LiveView(() => renderBalanceTable(cache!.current()), process.stdout.isTTY ? 100 : 1_000);
    cache.on('snapshot', redraw);
    clients = new ClientRunner({ count: nClients, staggerMs, session, root, strategy: values.strategy, logger, login: (i) => ({ user: `user-${i}` }) });
    log(`starting ${nClients} clients, ${staggerMs} ms apart (strategy ${values.strategy ?? DEFAULT_STRATEGY}), logging in as user-0 … user-${nClients - 1}`);
    const result = await clients.start();
    log(`clients connected and logged in ${result.connected}, failed ${result.failed}`);
    // Converged when ZooKeeper's balances add up to the clients' live connections.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const total = cache.current().servers.reduce((a, s) => a + s.balance, 0);
      if (total === clients.liveClients) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    stopView();
    const snap = cache.current();
    console.log(`\nfinal balance (from ZooKeeper):\n${renderBalanceTable(snap)}`);
    let exact = 0;
    for (const s of servers.servers) {
      const { live } = await servers.stats(s.index);
      const node = snap.servers.find((n) => n.port === s.port);
      if (node?.balance === live) exact++;
      else log(`server ${s.id}: ZooKeeper says ${node?.balance}, live sockets ${live}`);
    }
    log(`${exact}/${servers.servers.length} nodes hold exactly their server's live socket count`);
    log(`final spread: ${formatSpread(spreadOf(snap.servers.map((s) => s.balance)))}`);
    if (exact !== servers.servers.length || result.failed > 0) process.exitCode = 1;

    // Messaging through the allocation service's router (the one the dashboard's push form uses).
    const target = Math.floor(nClients / 2);
    const user = `user-${target}`;
    const pushed = receipts(clients, (m) => (m.body as { demo?: string } | undefined)?.demo === 'push', 1, DELIVERY_TIMEOUT_MS);
    try {
      const r = await alloc.push.push(user, { demo: 'push', text: `hello ${user}` }, { waitMs: DELIVERY_TIMEOUT_MS });
      const got = await pushed;
      log(`push to ${user}: acked from ${r.server} (id ${r.id}); arrived at ${got.has(target) && got.size === 1 ? `${user}'s client only` : `clients ${[...got].join(', ') || 'none'}`}`);
      if (!got.has(target) || got.size !== 1) process.exitCode = 1;
    } catch (e) {
      log(`push to ${user} failed: ${(e as Error).message}`);
      process.exitCode = 1;
    }
    const online = clients.liveClients;
    const broadcasted = receipts(clients, (m) => (m.body as { demo?: string } | undefined)?.demo === 'broadcast', online, DELIVERY_TIMEOUT_MS);
    const b = await alloc.push.broadcast({ demo: 'broadcast', text: 'hello everyone' });
    const everyone = await broadcasted;
    log(`broadcast: written to ${b.recipients} users on ${b.servers} servers; arrived at ${everyone.size}/${online} clients`);
    if (b.recipients !== online || everyone.size !== online) process.exitCode = 1;

    if (history) {
      // An offline push: stored (202 over HTTP), delivered at the login.
      const away = 'user-away';
      const stored = await alloc.push.push(away, { demo: 'offline', text: `hello ${away}` });
      log(`push to ${away} (offline): ${stored.delivered ? 'acked?!' : `stored at offset ${stored.offset} (epoch ${stored.epoch}), ${stored.code}`}`);
      const late = new ClusterClient({ provider: new BalanceProvider({ source: cache, root }), logger });
      const arrived = new Promise<ReceivedMessage | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), DELIVERY_TIMEOUT_MS);
        late.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
      const loginAt = Date.now();
      await late.connect({ user: away });
      const got = await arrived;
      log(got ? `${away} logged in: the stored push arrived ${Date.now() - loginAt} ms after the login (offset ${got.offset})` : `${away} logged in: the stored push did not arrive`);
      if (stored.delivered || !got) process.exitCode = 1;
      await late.disconnect();
      if (!values['no-rebalance']) await moveWithHistory();
    }

    if (holdMs > 0) {
      log(`holding for ${holdMs} ms (Ctrl-C to stop early); the dashboard lists ${alloc.push.online().total} online users`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, holdMs))), untilSignal()]);
      clearTimeout(timer); // a signal ended the hold: do not keep the process alive until it is over
    }
  } finally {
    stopView();
    log('disconnecting clients and stopping servers');
    await clients?.stop();
    await alloc?.close();
    cache?.close();
    await servers.stop();
    session.close();
    await stopRedis();
    await stopZk();
    log('done');
  }

  /**
   * A server joins; the rebalancer moves clients to it (make-before-break) while every user is
   * pushed to. Each moved client logs in again with its position: the new server replays what it
   * missed, so every user holds every push once, in order.
   */
  async function moveWithHistory(): Promise<void> {
    const runner = clients!;
    const router = alloc!.push;
    const got = runner.clients.map(() => [] as number[]);
    const sent = runner.clients.map(() => new Map<number, number>());
    // Streams outlive a run in Redis: only this run's pushes count.
    const run = Date.now().toString(36);
    const onMessage = (i: number, m: ReceivedMessage) => {
      const body = m.body as { move?: number; run?: string } | undefined;
      if (body?.run === run && body.move !== undefined) got[i]!.push(body.move);
    };
    runner.on('message', onMessage);
    let recovered = 0;
    let failedRecoveries = 0;
    const onRecovered = () => recovered++;
    const onFailed = () => failedRecoveries++;
    for (const c of runner.clients) c.on('recovered', onRecovered).on('recovery-failed', onFailed);
    const movesBefore = runner.migrations;
    const rehomesBefore = runner.clients.reduce((n, c) => n + c.reconnects, 0);
    const added = await servers.add();
    log(`server ${added.index} ${added.ip}:${added.port} joins: the rebalancer moves clients to it while every user is pushed to`);
    let pushing = true;
    let pushes = 0;
    const loop = (async () => {
      for (let seq = 1; pushing; seq++) {
        const results = await router.pushMany(runner.clients.map((c) => c.user!), { move: seq, run }, { ackTimeoutMs: 2_000 });
        results.forEach((r, i) => r.offset !== undefined && sent[i]!.set(r.offset, seq));
        pushes += results.length;
        await sleep(200);
      }
    })();
    const deadline = Date.now() + MOVE_TIMEOUT_MS;
    let lastMoves = runner.migrations;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      await sleep(250);
      if (runner.migrations !== lastMoves) {
        lastMoves = runner.migrations;
        quietSince = Date.now();
      } else if (lastMoves > movesBefore && Date.now() - quietSince > 2_000) break;
    }
    pushing = false;
    await loop;
    const complete = () => runner.clients.every((_, i) => got[i]!.length >= sent[i]!.size);
    const settleBy = Date.now() + DELIVERY_TIMEOUT_MS;
    while (!complete() && Date.now() < settleBy) await sleep(50);
    runner.off('message', onMessage);
    const exact = runner.clients.filter((_, i) => {
      const want = [...sent[i]!].sort((a, b) => a[0] - b[0]).map(([, seq]) => seq);
      return want.length === got[i]!.length && want.every((s, k) => s === got[i]![k]);
    }).length;
    const moved = runner.migrations - movesBefore;
    const rehomed = runner.clients.reduce((n, c) => n + c.reconnects, 0) - rehomesBefore;
    const duplicates = runner.clients.reduce((n, c) => n + c.duplicates, 0);
    log(`${moved} clients moved to the new server${rehomed ? ` (${rehomed} re-homed)` : ''}, each logging in again with its position: ${recovered} logins recovered the gap${failedRecoveries ? `, ${failedRecoveries} did not` : ''}`);
    log(`${pushes} pushes sent during the moves: ${exact}/${runner.clients.length} users hold every one exactly once, in order (${duplicates} duplicates dropped by offset)`);
    if (moved === 0 || exact !== runner.clients.length || failedRecoveries > 0) process.exitCode = 1;
  }
});
