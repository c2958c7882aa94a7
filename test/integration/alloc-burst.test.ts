import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { request, withAlloc } from '../helpers/alloc-fixture.js';
import { eventually } from '../helpers/eventually.js';
import { openSocket } from '../helpers/socket.js';
import { nodeData } from '../helpers/nodes.js';

const BURST = 2_000;
const SERVERS = 5;

test('alloc - 2,000 simultaneous allocations over 5 empty servers end with a spread of at most 1', (t) =>
  withAlloc({ servers: SERVERS, label: 'burst', service: { reservationTtlMs: 120_000 } }, async (f) => {
    // Callers connect only after every answer is in; on a loaded machine that can take longer than the
    // default reservation TTL, and an expired reservation is not what this test is about.
    // One socket per request, so all 2,000 really are in flight at once.
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    try {
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: BURST }, () => request(`${f.url}allocate`, { agent })));
      const allocMs = Date.now() - started;
      assert.ok(answers.every((a) => a.status === 200), `statuses: ${[...new Set(answers.map((a) => a.status))].join(',')}`);
      const picks = answers.map((a) => a.json<{ name: string; port: number }>());

      const handedOut = new Map<string, number>();
      for (const p of picks) handedOut.set(p.name, (handedOut.get(p.name) ?? 0) + 1);
      assert.equal(handedOut.size, SERVERS);

      // Every caller connects to what it was given (in waves, to stay inside the accept backlog).
      for (let i = 0; i < picks.length; i += 250) {
        f.sockets.push(...(await Promise.all(picks.slice(i, i + 250).map((p) => openSocket(p.port)))));
      }
      let balances: number[] = [];
      const settled = await eventually(
        async () => {
          balances = [...(await nodeData(f.raw, f.root)).values()].map((d) => d.balance);
          return balances.length === SERVERS && balances.reduce((a, b) => a + b, 0) === BURST;
        },
        20_000,
        100,
      );
      assert.ok(settled, `ZooKeeper balances ${balances.join(',')}`);
      const spread = Math.max(...balances) - Math.min(...balances);
      t.diagnostic(`burst ${BURST} allocations in ${allocMs} ms; hand-outs ${[...handedOut.values()].join('/')}; ZooKeeper balances ${balances.join('/')}; spread ${spread}`);
      assert.ok(spread <= 1, `spread ${spread} (balances ${balances.join(',')})`);

      // Once the servers have reported, the reservations are retired, not double-counted.
      assert.ok(
        await eventually(async () => {
          const list = (await request(`${f.url}servers`)).json<{ pending: number }[]>();
          return list.every((s) => s.pending === 0);
        }),
        'reservations retired',
      );
    } finally {
      agent.destroy();
    }
  }));
