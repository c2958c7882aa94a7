import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { ZkSession } from '../../src/zk/session.js';
import { spreadOf } from '../../src/tools/balance-table.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';
import { nodeData } from '../helpers/nodes.js';

test('load - ramp: 500 staggered clients over 5 server processes end with spread <= 1 and exact balances', async () => {
  const connect = await testZk();
  const zk = await rawZk(connect);
  const { root, cleanup } = await freshRoot(zk, 'ramp');
  const servers = new ServerRunner({ count: 5, zk: connect, root, host: '127.0.0.1' });
  const session = new ZkSession({ connect });
  const clients = new ClientRunner({ count: 500, staggerMs: 10, session, root });
  try {
    await servers.start();
    const r = await clients.start();
    assert.equal(r.connected, 500);
    assert.equal(r.failed, 0);
    const settled = await eventually(async () => {
      const nodes = await nodeData(zk, root);
      return [...nodes.values()].reduce((a, n) => a + n.balance, 0) === 500;
    }, 10_000, 50);
    assert.ok(settled, 'ZooKeeper balances add up to 500');
    const nodes = await nodeData(zk, root);
    for (const s of servers.servers) {
      const { live } = await servers.stats(s.index);
      assert.equal(nodes.get(s.id)?.balance, live, `${s.id}: ZooKeeper balance equals live sockets`);
    }
    const sp = spreadOf([...nodes.values()].map((n) => n.balance));
    assert.ok(sp.spread <= 1, `spread ${sp.spread} (min ${sp.min}, max ${sp.max})`);
  } finally {
    await clients.stop();
    await servers.stop();
    session.close();
    await cleanup();
    zk.close();
  }
});
