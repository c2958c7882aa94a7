import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import type ZooKeeper from 'zookeeper';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import { ZkReadSource } from '../../src/discovery/read-servers.js';
import { C } from '../../src/zk/codes.js';
import type { ZkSession } from '../../src/zk/session.js';
import { request, withAlloc } from '../helpers/alloc-fixture.js';
import { withServer } from '../helpers/server-fixture.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';
import { useTestSession } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';
import { dataOf } from '../helpers/nodes.js';

const packr = new Packr({ useRecords: false });
const pack = (v: unknown) => packr.pack(v);
const OK = { ip: '127.0.0.1', port: 4000, balance: 1 };

/** Every kind of bad node data we could think of; none of them is valid ServerData. */
function garbage(): [name: string, data: Buffer][] {
  const rnd = mulberry32(4);
  const valid = pack(OK);
  return [
    ['random-bytes', Buffer.from(Array.from({ length: 64 }, () => Math.floor(rnd() * 256)))],
    ['text', Buffer.from('hello, this is not msgpack \xff\xfe')],
    ['empty', Buffer.alloc(0)],
    ['null-as-text', Buffer.from('null')],
    ['nil', pack(null)],
    ['array', pack([1, 2, 3])],
    ['number', pack(42)],
    ['string', pack('127.0.0.1:4000')],
    ['missing-ip', pack({ port: 4000, balance: 1 })],
    ['missing-port', pack({ ip: '127.0.0.1', balance: 1 })],
    ['missing-balance', pack({ ip: '127.0.0.1', port: 4000 })],
    ['string-port', pack({ ...OK, port: '4000' })],
    ['string-balance', pack({ ...OK, balance: '3' })],
    ['negative-balance', pack({ ...OK, balance: -5 })],
    ['float-balance', pack({ ...OK, balance: 1.5 })],
    ['nan-balance', pack({ ...OK, balance: Number.NaN })],
    ['huge-port', pack({ ...OK, port: 70_000 })],
    ['wildcard-ip', pack({ ...OK, ip: '0.0.0.0' })],
    ['negative-max', pack({ ...OK, maxConnections: -1 })],
    ['string-draining', pack({ ...OK, draining: 'yes' })],
    ['c1', Buffer.from([0xc1])],
    ['truncated', valid.subarray(0, valid.length - 3)],
    ['trailing-bytes', Buffer.concat([valid, Buffer.from([0x01])])],
    ['ext-type', Buffer.from([0xd4, 0x7f, 0x00])],
  ];
}

async function plant(zk: ZooKeeper, root: string): Promise<string[]> {
  const list = garbage();
  for (const [name, data] of list) await zk.create(`${root}/${name}`, data, C.ZOO_PERSISTENT);
  return list.map(([n]) => n);
}

/** Collects the names in FULCRUM_MALFORMED_SERVER_DATA process warnings about `root`. */
function warningsAbout(root: string): { names: Set<string>; stop: () => void } {
  const names = new Set<string>();
  const on = (w: Error & { code?: string }) => {
    if (w.code !== 'FULCRUM_MALFORMED_SERVER_DATA') return;
    const m = new RegExp(`skipping ${root}/([^:]+):`).exec(w.message);
    if (m) names.add(m[1]!);
  };
  process.on('warning', on);
  return { names, stop: () => process.off('warning', on) };
}

let session: ZkSession;
useTestSession((s) => (session = s), { sessionTimeoutMs: 4_000 });

test('bad data - read-all discovery and every strategy skip malformed nodes with a warning and still pick the good server', () =>
  withServer({ label: 'bad-read' }, async ({ zk, root, server }) => {
    const warned = warningsAbout(root);
    try {
      const names = await plant(zk, root);
      const source = new ZkReadSource(session, root);
      const snap = await source.snapshot();
      assert.deepEqual(
        snap.servers.map((s) => s.name),
        [server.id],
      );
      assert.ok(await eventually(() => names.every((n) => warned.names.has(n))), `warned about ${[...warned.names].length}/${names.length}`);
      for (const strategy of ['least', 'p2c', 'random', 'round-robin', 'weighted', 'hash', 'water-fill']) {
        const provider = new BalanceProvider({ source, root, strategy });
        for (let i = 0; i < 5; i++) assert.equal((await provider.pick({ key: `k${i}` })).name, server.id, strategy);
      }
      const client = new ClusterClient({ provider: new BalanceProvider({ source, root }), reconnect: false });
      await client.connect();
      assert.equal(client.server!.name, server.id);
      await client.disconnect();
    } finally {
      warned.stop();
    }
  }));

test('bad data - the watch cache skips malformed nodes, drops a node that turns bad, and the server heals its own tampered node', () =>
  withServer({ label: 'bad-cache' }, async ({ zk, root, server, open }) => {
    const cache = new ServerCache({ session, root });
    const warned = warningsAbout(root);
    try {
      const names = await plant(zk, root);
      await zk.create(`${root}/flip`, pack({ ...OK, port: 4001 }), C.ZOO_PERSISTENT);
      await cache.start();
      const names0 = () => cache.current().servers.map((s) => s.name);
      assert.deepEqual(names0(), ['flip', server.id].sort());
      assert.ok(await eventually(() => names.every((n) => warned.names.has(n))), 'a warning per malformed node');
      assert.ok(cache.stats.malformed >= names.length);

      // A valid node turns bad: it leaves the picture; a bad one turns valid: it joins.
      await zk.set(`${root}/flip`, Buffer.from('garbage'), -1);
      await zk.set(`${root}/negative-balance`, pack({ ...OK, port: 4002 }), -1);
      assert.ok(await eventually(() => names0().join() === ['negative-balance', server.id].sort().join()), names0().join());

      // Someone overwrites the live server's node with garbage: the cache skips it, the server rewrites the truth.
      for (let i = 0; i < 2; i++) await open();
      assert.ok(await eventually(async () => (await dataOf(zk, server.nodePath!))?.balance === 2));
      await zk.set(server.nodePath!, Buffer.from([0xc1, 0xc1]), -1);
      assert.ok(await eventually(() => !names0().includes(server.id)), 'tampered node skipped');
      await open(); // the next write meets BADVERSION and rewrites
      assert.ok(await eventually(() => cache.current().servers.find((s) => s.name === server.id)?.balance === 3), 'healed, with the exact balance');
      assert.equal(cache.stats.errors, 0);
    } finally {
      warned.stop();
      cache.close();
    }
  }));

test("bad data - the alloc service's /servers and /allocate skip malformed nodes", () =>
  withAlloc({ servers: 1, label: 'bad-alloc' }, async (f) => {
    const names = await plant(f.raw, f.root);
    assert.ok(await eventually(() => f.service.cache.stats.malformed >= names.length), 'the service saw every bad node');
    const list = await request(`${f.url}servers`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json<{ name: string }[]>().map((s) => s.name),
      [f.servers[0]!.id],
    );
    for (let i = 0; i < 5; i++) {
      const a = await request(`${f.url}allocate`);
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json<{ name: string }>().name, f.servers[0]!.id);
    }
    const health = await request(`${f.url}healthz`);
    assert.equal(health.status, 200);
  }));
