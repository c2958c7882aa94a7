import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { NativeZkClient } from '../../src/zk/zk-client.js';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { connectStringOf, isServing, startCluster, stopCluster } from '../../src/tools/local-zookeeper.js';
import { ZkSession } from '../../src/zk/session.js';
import { measured } from '../helpers/fault-util.js';
import { allDown, RESTART_LAYOUT } from '../helpers/fault-zk.js';
import { deleteTree } from '../../src/zk/paths.js';
import { freshRoot, rawZk } from '../helpers/zk.js';
import { eventually, whenTrue } from '../helpers/eventually.js';
import { ping } from '../helpers/socket.js';
import { nodeData } from '../helpers/nodes.js';

const SESSION_TIMEOUT_MS = 3_000;
/** ZooKeeper stays away longer than the session timeout. */
const OUTAGE_MS = 4_500;

let connect: string;
before(async () => {
  await startCluster(RESTART_LAYOUT, { fresh: true });
  connect = connectStringOf(RESTART_LAYOUT);
});
after(async () => {
  await stopCluster(RESTART_LAYOUT);
});

test('restart - servers keep serving and clients keep picking while ZooKeeper is down; changes made meanwhile are written when it is back', async () => {
  let zk: ZooKeeper | undefined = await rawZk(connect);
  const { root } = await freshRoot(zk, 'restart');
  const runner = new ServerRunner({ count: 2, zk: connect, root, host: '127.0.0.1', sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const session = new ZkSession({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  let clients: ClientRunner | undefined;
  const extra: ClusterClient[] = [];
  const liveCounts = async () => Promise.all(runner.servers.map(async (s) => ({ name: s.id, live: (await runner.stats(s.index)).live })));
  try {
    await runner.start();
    clients = new ClientRunner({ count: 10, staggerMs: 0, session, root, discovery: 'cache' });
    assert.deepEqual(await clients.start(), { connected: 10, failed: 0 });
    const exact = async (h: ZooKeeper) => {
      const nodes = await nodeData(h, root);
      const live = await liveCounts();
      return live.every((l) => nodes.get(l.name)?.balance === l.live);
    };
    assert.ok(await eventually(() => exact(zk!)), 'balances exact before the outage');
    zk.close();
    zk = undefined;

    await stopCluster(RESTART_LAYOUT);
    const downAt = Date.now();
    assert.ok(await allDown(RESTART_LAYOUT), 'ZooKeeper is really down');

    // Old sockets keep working.
    const kept = clients.clients.slice(4);
    const pongs = await Promise.all(kept.map((c, i) => ping(c.socket!, 100 + i)));
    assert.equal(pongs.length, 6);
    // Balance changes while ZooKeeper is away: 4 clients leave, 10 new ones pick from the last snapshot.
    await Promise.all(clients.clients.slice(0, 4).map((c) => c.disconnect()));
    const provider = new BalanceProvider({ source: clients.cache!, root });
    for (let i = 0; i < 10; i++) {
      const c = new ClusterClient({ provider, reconnect: false });
      extra.push(c);
      await c.connect();
    }
    assert.ok(extra.every((c) => c.isConnected), 'every pick during the outage connected');
    assert.equal(clients.cache!.current().servers.length, 2, 'the cache kept its last good snapshot');
    assert.ok(await eventually(async () => (await liveCounts()).reduce((a, l) => a + l.live, 0) === 16), 'servers count 16 live sockets');

    // Hold the outage past the session timeout (fault duration, not an assertion).
    const rest = OUTAGE_MS - (Date.now() - downAt);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    assert.equal(await isServing(RESTART_LAYOUT.basePort), false);
    measured('restart: ZooKeeper outage', Date.now() - downAt);

    await startCluster(RESTART_LAYOUT);
    const upAt = Date.now();
    zk = await rawZk(connect);
    const exactAt = await whenTrue(() => exact(zk!), 20_000, 25);
    assert.ok(exactAt !== undefined, 'balances written once ZooKeeper is back');
    measured('restart: balances exact after ZooKeeper serves again', exactAt - upAt);
    const nodes = await nodeData(zk, root);
    assert.equal([...nodes.values()].reduce((a, d) => a + d.balance, 0), 16);
    assert.ok(
      await eventually(() => clients!.cache!.current().servers.reduce((a, s) => a + s.balance, 0) === 16),
      'the cache caught up with the new balances',
    );
    for (const s of runner.servers) {
      const st = await runner.stats(s.index);
      measured(`restart: server ${s.index} re-registrations`, st.stats.reregistrations, '');
      assert.equal(st.registered, true);
    }
    // Picks still work afterwards and are counted.
    const after1 = new ClusterClient({ provider, reconnect: false });
    extra.push(after1);
    await after1.connect();
    assert.ok(await eventually(async () => [...(await nodeData(zk!, root)).values()].reduce((a, d) => a + d.balance, 0) === 17));
  } finally {
    await Promise.all(extra.map((c) => c.disconnect()));
    await clients?.stop();
    await runner.stop();
    session.close();
    if (zk) await deleteTree(NativeZkClient.of(zk), root.slice(0, root.lastIndexOf('/'))).catch(() => {});
    zk?.close();
  }
});
