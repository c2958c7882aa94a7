import { runCli, parseCli, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP } from './args.js';
import { ServerCache } from '../../discovery/server-cache.js';
import { ZkSession } from '../../zk/session.js';
import { renderBalanceTable } from '../balance-table.js';
import { LiveView } from './live-view.js';

const HELP = `
usage: npm run watch [-- options]

A live terminal table of every registered server's balance, redrawn as it changes
(from a watch-driven cache: no polling). Ctrl-C exits.
${ZK_HELP}`;

runCli('watch', async () => {
  const { values } = parseCli(process.argv.slice(2), ZK_OPTIONS, HELP);
  const { zk, root } = zkTarget(values);
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 5_000 });
  await session.start();
  const cache = new ServerCache({ session, root });
  await cache.start();
  const view = new LiveView(() => `fulcrum · ${zk}${root}\n${renderBalanceTable(cache.current())}`);
  cache.on('snapshot', () => view.invalidate());
  session.on('disconnected', () => view.invalidate('ZooKeeper disconnected: showing the last good picture'));
  session.on('reconnected', () => view.invalidate(''));
  view.invalidate();
  await untilSignal();
  view.close();
  cache.close();
  session.close();
});
