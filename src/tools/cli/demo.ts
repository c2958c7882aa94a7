import { runCli, parseCli, intFlag, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP, cliLogger, logLevelOf } from './args.js';
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

/** How long the demo waits for its push and broadcast to arrive at the clients. */
const DELIVERY_TIMEOUT_MS = 10_000;

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
to everybody and shows that both arrived, then exits cleanly.

  --servers N      servers to start (default 5)
  --clients M      clients to start (default 200)
  --stagger-ms S   gap between client starts (default 10)
  --strategy NAME  picking strategy (default ${DEFAULT_STRATEGY})
  --alloc-port P   port of the allocation service and dashboard (default 9999; 0 = any free)
  --hold-ms H      keep everything running H ms after converging, to look at the dashboard (default 0)
  --no-rebalance   servers do not move clients to even out (on by default)
${ZK_HELP}
The demo logs at warn unless --log-level or FULCRUM_LOG_LEVEL says otherwise, so the table stays readable.`;

runCli('demo', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    { ...ZK_OPTIONS, servers: { type: 'string' }, clients: { type: 'string' }, 'stagger-ms': { type: 'string' }, strategy: { type: 'string' }, 'alloc-port': { type: 'string' }, 'hold-ms': { type: 'string' }, 'no-rebalance': { type: 'boolean' } },
    HELP,
  );
  const { zk, root } = zkTarget(values);
  const nServers = intFlag(values, 'servers', 5, 1, 50);
  const nClients = intFlag(values, 'clients', 200, 1, 10_000);
  const staggerMs = intFlag(values, 'stagger-ms', 10, 0, 10_000);
  const allocPort = intFlag(values, 'alloc-port', 9999, 0, 65535);
  const holdMs = intFlag(values, 'hold-ms', 0, 0, 3_600_000);
  const t0 = Date.now();
  const log = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);

  const stopZk = await ensureZk(zk, DEFAULT_ZK_CONNECT, log);
  log(`ZooKeeper ${zk} is serving`);

  const logger = cliLogger('demo', values, 'warn');
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 10_000 });
  const servers = new ServerRunner({ count: nServers, zk, root, host: '127.0.0.1', logger, logLevel: logLevelOf(values, 'warn'), rebalance: !values['no-rebalance'] });
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
      alloc = new AllocService({ session, root, port: allocPort, logger });
      log(`dashboard and allocation service: ${(await alloc.start()).url}`);
    } catch (e) {
      // A busy port must not spoil the demo: fall back to any free port.
      alloc = new AllocService({ session, root, port: 0, logger });
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
    await stopZk();
    log('done');
  }
});
