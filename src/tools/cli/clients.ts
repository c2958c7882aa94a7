import { runCli, parseCli, intFlag, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP, UsageError, cliLogger } from './args.js';
import { ClientRunner, DEFAULT_CONCURRENT_READS, READ_SESSIONS } from '../runner/client-runner.js';
import { DEFAULT_STRATEGY } from '../../balancing/index.js';
import { getStrategy, strategyNames } from '../../balancing/strategy-registry.js';
import { ZkSession } from '../../zk/session.js';
import { formatSpread, spreadOf } from '../balance-table.js';
import { SECRET_HELP, SECRET_OPTIONS, secretOf } from './secret.js';
import { isName } from '../../protocol/messages.js';
import { DEFAULT_TOKEN_TTL_MS, issueToken } from '../../messaging/token.js';
import type { LoginOptions } from '../../client/login.js';

const DEFAULT_USER_PREFIX = 'user-';

const HELP = `
usage: npm run clients -- --count M [options]

ClientRunner: starts M clients S ms apart; each discovers the servers, picks one and connects
straight to it (ping/pong proves the connection). Holds until SIGINT/SIGTERM or --hold-ms.

  --count M           number of clients (1-20000)
  --stagger-ms S      gap between client starts (default 10; 0 = all at once)
  --hold-ms H         disconnect and exit after H ms (default: wait for a signal)
  --strategy NAME     ${strategyNames().join(', ')} (default ${DEFAULT_STRATEGY})
  --discovery MODE    cache (watch-driven, default) or read (every client reads all nodes)
  --no-pending        do not count this process's unreported picks (the naive seed behaviour)
  --independent       every client is its own device: its own picker (own pending picks, own
                      failure memory) and a fresh ZooKeeper read of all nodes for each pick, taken
                      at its own time; nothing is shared but a pool of ${READ_SESSIONS} ZooKeeper sessions the
                      reads go through (a session per client would load ZooKeeper, not the test)
  --concurrent-reads N  independent clients reading at the same moment (default ${DEFAULT_CONCURRENT_READS};
                      only with --independent)
  --users             log client i in as user P<i> (a messaging server's user; again after every
                      re-home) and count the messages each receives (acked as they arrive)
  --user-prefix P     the user names' prefix (default ${DEFAULT_USER_PREFIX}; only with --users)
${SECRET_HELP};
                      with one, every client logs in with a token issued for its user (only with --users)
${ZK_HELP}`;

/** One line: how many messages the clients got, and of which kind. */
function receivedLine(runner: ClientRunner, kinds: { direct: number; room: number; private: number }): string {
  const by = runner.received.filter((n) => n > 0).length;
  return `messages received ${runner.messages} by ${by}/${runner.clients.length} clients (push or broadcast ${kinds.direct}, private ${kinds.private}, room ${kinds.room})`;
}

runCli('clients', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    { ...ZK_OPTIONS, ...SECRET_OPTIONS, users: { type: 'boolean' }, 'user-prefix': { type: 'string' }, count: { type: 'string' }, 'stagger-ms': { type: 'string' }, 'hold-ms': { type: 'string' }, strategy: { type: 'string' }, discovery: { type: 'string' }, 'no-pending': { type: 'boolean' }, independent: { type: 'boolean' }, 'concurrent-reads': { type: 'string' } },
    HELP,
  );
  const { zk, root } = zkTarget(values);
  const count = intFlag(values, 'count', undefined, 1, 20_000);
  const staggerMs = intFlag(values, 'stagger-ms', 10, 0, 60_000);
  const holdMs = values['hold-ms'] === undefined ? undefined : intFlag(values, 'hold-ms', undefined, 0);
  const discovery = values.discovery ?? 'cache';
  if (discovery !== 'cache' && discovery !== 'read') throw new UsageError(`--discovery must be cache or read, got ${JSON.stringify(discovery)}`);
  if (values.strategy !== undefined) getStrategy(values.strategy);
  const independent = values.independent === true;
  if (!independent && values['concurrent-reads'] !== undefined) throw new UsageError('--concurrent-reads needs --independent');
  if (independent && values.discovery !== undefined) throw new UsageError('--discovery cannot be combined with --independent (independent clients each read ZooKeeper themselves)');
  const concurrentReads = intFlag(values, 'concurrent-reads', DEFAULT_CONCURRENT_READS, 1, 20_000);
  const users = values.users === true;
  if (!users && values['user-prefix'] !== undefined) throw new UsageError('--user-prefix needs --users');
  if (!users && values['secret-file'] !== undefined) throw new UsageError('--secret-file needs --users');
  const prefix = values['user-prefix'] ?? DEFAULT_USER_PREFIX;
  if (users && !(isName(prefix) && isName(`${prefix}${count - 1}`))) throw new UsageError(`--user-prefix must be non-empty and leave user names of at most 128 bytes, got ${JSON.stringify(prefix)}`);
  const secret = users ? secretOf(values) : undefined;
  const login = users
    ? (i: number): LoginOptions => {
        const user = `${prefix}${i}`;
        return secret === undefined ? { user } : { user, token: () => issueToken(secret, user, DEFAULT_TOKEN_TTL_MS) };
      }
    : undefined;
  const log = cliLogger('clients', values);
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 5_000 });
  await session.start();
  let runner: ClientRunner;
  try {
    runner = new ClientRunner({ count, staggerMs, session, root, strategy: values.strategy, discovery, pending: !values['no-pending'], independent, concurrentReads, logger: log, login });
  } catch (e) {
    session.close();
    throw e;
  }
  const kinds = { direct: 0, room: 0, private: 0 };
  runner.on('message', (_i, m) => {
    if (m.room !== undefined) kinds.room++;
    else if (m.from !== undefined) kinds.private++;
    else kinds.direct++;
  });
  const stop = holdMs === undefined ? untilSignal() : new Promise((r) => setTimeout(r, holdMs));
  const started = runner.start();
  const progress = setInterval(() => console.log(`clients connected ${runner.connected}/${count}, failed ${runner.failed}`), 1_000);
  await Promise.race([started, stop]);
  clearInterval(progress);
  console.log(`clients connected ${runner.connected}/${count}, failed ${runner.failed}`);
  if (users) console.log(`logged in as ${prefix}0 … ${prefix}${count - 1}${secret === undefined ? '' : ' (with tokens)'}; counting the messages they receive`);
  const counts = [...runner.countsByServer().entries()].sort();
  for (const [name, n] of counts) console.log(`  ${name}  ${n}`);
  console.log(formatSpread(spreadOf(counts.map(([, n]) => n))));
  let shown = -1;
  const receipts = users
    ? setInterval(() => {
        if (runner.messages === shown) return;
        shown = runner.messages;
        console.log(receivedLine(runner, kinds));
      }, 500)
    : undefined;
  await stop;
  clearInterval(receipts);
  if (users) {
    console.log(receivedLine(runner, kinds));
    const byCount = new Map<number, number>();
    for (const n of runner.received) byCount.set(n, (byCount.get(n) ?? 0) + 1);
    console.log(`clients by messages received: ${[...byCount].sort((a, b) => a[0] - b[0]).map(([n, c]) => `${n} → ${c}`).join(', ')}`);
    if (runner.stopped > 0) console.log(`clients refused or kicked by their server (not reconnecting): ${runner.stopped}`);
  }
  if (runner.migrations > 0) console.log(`moved on a server's request (rebalancing): ${runner.migrations}`);
  await runner.stop();
  session.close();
  console.log('clients disconnected');
});
