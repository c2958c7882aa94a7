import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { balancesExact, withServer } from '../helpers/server-fixture.js';
import { measured } from '../helpers/fault-util.js';
import { eventually } from '../helpers/eventually.js';
import { dataOf } from '../helpers/nodes.js';
import { closeSocket, ping } from '../helpers/socket.js';

const CAP = 50;

interface Probe {
  sock: net.Socket;
  /** The server sent FIN (a clean refusal). */
  ended: boolean;
  errored: boolean;
  closed: boolean;
}

/** Opens `n` connections at once; resolves once every one is established (or failed). */
async function burst(port: number, n: number): Promise<Probe[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Probe>((resolve) => {
          const sock = net.connect(port, '127.0.0.1');
          const p: Probe = { sock, ended: false, errored: false, closed: false };
          sock.on('end', () => (p.ended = true));
          sock.on('error', () => (p.errored = true));
          sock.on('close', () => (p.closed = true));
          sock.once('connect', () => resolve(p));
          sock.once('error', () => resolve(p));
        }),
    ),
  );
}

test('admission - 200 simultaneous connects at cap 50: exactly 50 accepted, 150 refused cleanly, the balance never passes the cap', () =>
  withServer({ label: 'admission', server: { maxConnections: CAP } }, async ({ zk, root, server }) => {
    const probes: Probe[] = [];
    let peak = 0;
    let watching = true;
    let watcher: Promise<void> | undefined;
    try {
      const path = server.nodePath!;
      // Sample the published balance as fast as ZooKeeper answers, for the whole test.
      watcher = (async () => {
        while (watching) {
          const d = await dataOf(zk, path);
          if (d) peak = Math.max(peak, d.balance);
        }
      })();
      probes.push(...(await burst(server.endpoint!.port, 200)));
      assert.ok(await eventually(() => server.stats.refused === 150 && probes.filter((p) => p.closed).length === 150), `refused ${server.stats.refused}`);
      const accepted = probes.filter((p) => !p.closed);
      const refused = probes.filter((p) => p.closed);
      assert.equal(accepted.length, CAP);
      assert.equal(server.connections.size, CAP);
      assert.ok(refused.every((p) => p.ended && !p.errored), 'every refusal is a clean FIN, never a reset');
      assert.ok(await balancesExact(zk, root, [server]));
      assert.equal((await dataOf(zk, path))?.maxConnections, CAP);
      const ids = await Promise.all(accepted.map((p, i) => ping(p.sock, i + 1)));
      assert.ok(ids.every((id) => id === server.id), 'the accepted 50 are served');

      // Free 10 places, then another burst of 30: exactly 10 get in.
      await Promise.all(accepted.slice(0, 10).map((p) => closeSocket(p.sock)));
      assert.ok(await eventually(() => server.connections.size === CAP - 10));
      const second = await burst(server.endpoint!.port, 30);
      probes.push(...second);
      assert.ok(await eventually(() => server.stats.refused === 170 && second.filter((p) => p.closed).length === 20), `refused ${server.stats.refused}`);
      assert.equal(server.connections.size, CAP);
      assert.ok(await balancesExact(zk, root, [server]));
      watching = false;
      await watcher;
      measured('admission: peak published balance', peak, '');
      assert.ok(peak <= CAP, `peak ${peak} <= ${CAP}`);
      assert.equal(peak, CAP);
    } finally {
      watching = false;
      await watcher?.catch(() => {});
      await Promise.all(probes.map((p) => closeSocket(p.sock)));
    }
  }));
