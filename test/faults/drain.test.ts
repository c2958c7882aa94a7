import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitOf, measured } from '../helpers/fault-util.js';
import { withRunner } from '../helpers/runner-fixture.js';
import { eventually, whenTrue } from '../helpers/eventually.js';
import { nodeData, statOf } from '../helpers/nodes.js';

const SESSION_TIMEOUT_MS = 3_000;
const DRAIN_MS = 1_000;

test('drain - SIGTERM and close(): the node goes first, then the sockets (spread over drainMs), clients re-home, the process exits 0', () =>
  withRunner({ label: 'drain', servers: { count: 3, sessionTimeoutMs: SESSION_TIMEOUT_MS, drainMs: DRAIN_MS }, sessionTimeoutMs: SESSION_TIMEOUT_MS }, async (f) => {
    const { zk, root, runner } = f;
    const clients = f.clients({ count: 30, staggerMs: 0, strategy: 'least' });
    assert.deepEqual(await clients.start(), { connected: 30, failed: 0 });
    const all = clients.clients;
    const exact = async (expectNodes: number) => {
      const nodes = await nodeData(zk, root);
      if (nodes.size !== expectNodes) return false;
      for (const s of runner.servers) {
        if (!nodes.has(s.id)) continue;
        if (nodes.get(s.id)!.balance !== (await runner.stats(s.index)).live) return false;
      }
      return [...nodes.values()].reduce((a, d) => a + d.balance, 0) === 30;
    };
    assert.ok(await eventually(() => exact(3)), 'balances exact before the drain');

    // --- SIGTERM of server 0 -------------------------------------------------------------
    const victim = runner.servers[0]!;
    const onVictim = all.filter((c) => c.server?.name === victim.id);
    assert.ok(onVictim.length >= 5, `server 0 holds ${onVictim.length} clients`);
    const drops: number[] = [];
    const nodeGoneAtDrop: Promise<boolean>[] = [];
    for (const c of onVictim) {
      c.once('disconnected', () => {
        drops.push(Date.now());
        // Asked after the socket closed: the delete had to be committed before the server closed anything.
        nodeGoneAtDrop.push(statOf(zk, victim.path).then((st) => st === undefined));
      });
    }
    const exited = exitOf(victim.child);
    const termAt = Date.now();
    runner.signal(0, 'SIGTERM');
    const { code, signal } = await exited;
    assert.equal(code, 0, `exit code ${code} signal ${signal}`);
    assert.equal(drops.length, onVictim.length, 'every client of server 0 was disconnected');
    assert.ok((await Promise.all(nodeGoneAtDrop)).every(Boolean), 'the node was gone before any socket closed');
    const spread = Math.max(...drops) - Math.min(...drops);
    const planned = (DRAIN_MS * (onVictim.length - 1)) / onVictim.length;
    measured('drain: closes spread over', spread);
    assert.ok(spread >= planned * 0.75, `closes spread over ${spread} ms, planned ${planned} ms`);
    const rehomedAt = await whenTrue(() => clients.liveClients === 30 && all.every((c) => c.server?.name !== victim.id), 15_000, 20);
    assert.ok(rehomedAt !== undefined, 'every client re-homed to a survivor');
    measured('drain: all 30 clients connected again after SIGTERM', rehomedAt - termAt);
    assert.ok(await eventually(() => exact(2)), 'survivors hold all 30, exactly');

    // --- close() of server 1 (over IPC), no drain spread ---------------------------------
    const second = runner.servers[1]!;
    await runner.close(1, 0);
    assert.equal((await exitOf(second.child)).code, 0);
    assert.ok(await eventually(() => clients.liveClients === 30 && all.every((c) => c.server?.name === runner.servers[2]!.id), 15_000), 'everyone on the last server');
    assert.ok(await eventually(() => exact(1)), 'the last server holds all 30, exactly');
  }));
