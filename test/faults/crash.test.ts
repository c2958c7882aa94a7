import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { exitOf, measured } from '../helpers/fault-util.js';
import { TEST_LAYOUT } from '../helpers/zk.js';
import { withRunner } from '../helpers/runner-fixture.js';
import { eventually, whenTrue } from '../helpers/eventually.js';
import { nodeData, statOf } from '../helpers/nodes.js';

const SESSION_TIMEOUT_MS = 3_000;
/** ZooKeeper expires sessions on tick boundaries: at most one tick after the timeout. Plus slack for this machine. */
const NODE_GONE_BOUND_MS = SESSION_TIMEOUT_MS + (TEST_LAYOUT.tickMs ?? 2_000) + 2_000;

test('crash - kill -9 of a server: its node goes within the session timeout, its clients re-home to survivors, nothing else breaks', () =>
  withRunner({ label: 'crash', servers: { count: 3, sessionTimeoutMs: SESSION_TIMEOUT_MS }, sessionTimeoutMs: SESSION_TIMEOUT_MS }, async (f) => {
    const { zk, root, runner } = f;
    const extra: ClusterClient[] = [];
    try {
      const clients = f.clients({ count: 30, staggerMs: 0, strategy: 'least' });
      assert.deepEqual(await clients.start(), { connected: 30, failed: 0 });
      const all = clients.clients;
      const victim = runner.servers[0]!;
      const onVictim = all.filter((c) => c.server?.name === victim.id).length;
      assert.ok(onVictim >= 5, `server 0 holds ${onVictim} clients`);
      assert.ok(await eventually(async () => (await nodeData(zk, root)).size === 3));

      const exited = exitOf(victim.child);
      runner.signal(0, 'SIGKILL');
      const killedAt = Date.now();
      const rehomed = whenTrue(() => clients.liveClients === 30 && all.every((c) => c.server?.name !== victim.id), 15_000, 5);
      assert.equal((await exited).signal, 'SIGKILL');
      // New clients arrive while the dead server is still listed: they must land on survivors.
      const provider = new BalanceProvider({ source: clients.cache!, root, isQuarantined: clients.downPolicy.isQuarantined });
      for (let i = 0; i < 10; i++) {
        const c = new ClusterClient({ provider, downPolicy: clients.downPolicy, reconnect: false });
        extra.push(c);
        await c.connect();
        assert.notEqual(c.server!.name, victim.id);
      }
      const stillListed = (await statOf(zk, victim.path)) !== undefined;
      const rehomedAt = await rehomed;
      assert.ok(rehomedAt !== undefined, 'every orphan re-homed to a survivor');
      measured('crash: orphans re-homed after kill -9', rehomedAt - killedAt);
      const goneAt = await whenTrue(async () => (await statOf(zk, victim.path)) === undefined, 20_000, 25);
      assert.ok(goneAt !== undefined, 'the dead server node went away');
      measured('crash: node gone after kill -9', goneAt - killedAt);
      measured('crash: new picks while the dead node was still listed', stillListed ? 'yes (all landed on survivors)' : 'no (node already gone)');
      assert.ok(goneAt - killedAt <= NODE_GONE_BOUND_MS, `node gone after ${goneAt - killedAt} ms (session timeout ${SESSION_TIMEOUT_MS})`);

      // Survivors are fine and exact: 30 re-homed + 10 new.
      const survivors = runner.servers.slice(1);
      const exact = async () => {
        const nodes = await nodeData(zk, root);
        if (nodes.size !== 2) return false;
        let sum = 0;
        for (const s of survivors) {
          const live = (await runner.stats(s.index)).live;
          if (nodes.get(s.id)?.balance !== live) return false;
          sum += live;
        }
        return sum === 40;
      };
      assert.ok(await eventually(exact), 'survivors hold 40 connections, exactly');
      for (const s of survivors) assert.equal(s.child.exitCode, null, `server ${s.index} still running`);
    } finally {
      await Promise.all(extra.map((c) => c.disconnect()));
    }
  }));
