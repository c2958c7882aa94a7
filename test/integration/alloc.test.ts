import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerListing } from '../../src/alloc/alloc-service.js';
import { addressOf } from '../../src/discovery/snapshot.js';
import { ZkSession } from '../../src/zk/session.js';
import { errorCode, openEvents, rawHttp, request, withAlloc, type AllocFixture } from '../helpers/alloc-fixture.js';
import { firstPort, startProxy } from '../helpers/fault-proxy.js';
import { testZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';
import { openSocket } from '../helpers/socket.js';

interface EventPayload {
  at: number;
  version: number;
  spread: number;
  total: number;
  servers: { name: string; ip: string; port: number; balance: number; draining: boolean; maxConnections: number | null }[];
  zookeeper: { connected: boolean };
}

/** Waits until /servers shows exactly these balances by server name. */
async function balancesShown(f: AllocFixture, want: Record<string, number>): Promise<boolean> {
  return eventually(async () => {
    const list = (await request(`${f.url}servers`)).json<ServerListing[]>();
    return Object.entries(want).every(([name, b]) => list.find((s) => s.name === name)?.balance === b);
  });
}

test('alloc - GET / lists servers least-loaded first as ip:port,ip:port', () =>
  withAlloc({ servers: 3 }, async (f) => {
    const [a, b, c] = f.servers.map((s) => s.endpoint!);
    f.sockets.push(await openSocket(a!.port), await openSocket(a!.port), await openSocket(b!.port));
    assert.ok(await balancesShown(f, { [addressOf(a!)]: 2, [addressOf(b!)]: 1, [addressOf(c!)]: 0 }));
    const res = await request(f.url);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(res.text, [c, b, a].map((e) => addressOf(e!)).join(','));
    // curl's Accept */* is not a browser: it gets the list too.
    assert.equal((await request(f.url, { headers: { accept: '*/*' } })).text, res.text);
  }));

test('alloc - a browser on / and /index.html gets the self-contained dashboard', () =>
  withAlloc({}, async (f) => {
    for (const [path, accept] of [
      ['', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
      ['index.html', '*/*'],
    ] as const) {
      const res = await request(`${f.url}${path}`, { headers: { accept } });
      assert.equal(res.status, 200, path);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(String(res.headers['content-security-policy']), /script-src 'sha256-/);
      assert.match(res.text, /id="chart"/);
      assert.match(res.text, /<table id="servers">/);
      assert.doesNotMatch(res.text, /<script src=|https?:\/\/(?!www\.w3\.org)/, 'no external resources');
    }
  }));

test('alloc - GET /servers lists every server with balance, limits, draining, updatedAt and reservations', () =>
  withAlloc({ servers: 2 }, async (f) => {
    const [a, b] = f.servers.map((s) => addressOf(s.endpoint!));
    f.sockets.push(await openSocket(f.servers[0]!.endpoint!.port));
    assert.ok(await balancesShown(f, { [a!]: 1, [b!]: 0 }));
    const picked = (await request(`${f.url}allocate`)).json<{ name: string }>();
    assert.equal(picked.name, b, 'the empty server is handed out');
    const res = await request(`${f.url}servers`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const list = res.json<ServerListing[]>();
    assert.deepEqual(
      list.map((s) => [s.name, s.balance, s.pending, s.draining, s.maxConnections, s.source]),
      [
        [a, 1, 0, false, null, 'native'],
        [b, 0, 1, false, null, 'native'],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    for (const s of list) {
      assert.equal(typeof s.updatedAt, 'number');
      assert.ok(Math.abs(Date.now() - s.updatedAt!) < 60_000);
      assert.equal(s.ip, '127.0.0.1');
      assert.equal(typeof s.port, 'number');
    }
  }));

test('alloc - GET /allocate hands out the least-loaded server and counts its own hand-outs', () =>
  withAlloc({ servers: 3 }, async (f) => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 9; i++) {
      const res = await request(`${f.url}allocate`);
      assert.equal(res.status, 200);
      const body = res.json<{ name: string; ip: string; port: number; balance: number; pending: number; strategy: string; address: string }>();
      assert.equal(body.strategy, 'least');
      assert.equal(body.address, `${body.ip}:${body.port}`);
      assert.ok(f.servers.some((s) => s.endpoint!.port === body.port));
      seen.set(body.name, (seen.get(body.name) ?? 0) + 1);
    }
    // Nobody connected, so only the reservations kept the hand-outs even.
    assert.deepEqual([...seen.values()].sort(), [3, 3, 3]);
  }));

test('alloc - GET /allocate?key= is sticky (hash strategy per request)', () =>
  withAlloc({ servers: 4 }, async (f) => {
    const names = new Set<string>();
    for (let k = 0; k < 12; k++) {
      const first = (await request(`${f.url}allocate?key=user-${k}`)).json<{ name: string; strategy: string }>();
      assert.equal(first.strategy, 'hash');
      for (let i = 0; i < 3; i++) assert.equal((await request(`${f.url}allocate?key=user-${k}`)).json<{ name: string }>().name, first.name);
      names.add(first.name);
    }
    assert.ok(names.size >= 2, 'different keys land on different servers');
    const enc = await request(`${f.url}allocate?key=caf%C3%A9+%26+co`);
    assert.equal(enc.status, 200);
  }));

test('alloc - GET /allocate answers 503 JSON when no server can take a connection', () =>
  withAlloc({}, async (f) => {
    const res = await request(`${f.url}allocate`);
    assert.equal(res.status, 503);
    assert.equal(errorCode(res), 'FULCRUM_NO_SERVERS');
    assert.equal(res.headers['retry-after'], '1');
    assert.equal((await request(f.url)).text, '', 'GET / is an empty list, not an error');
  }));

test('alloc - unknown routes get 404 and wrong methods 405, both JSON with stable codes', () =>
  withAlloc({}, async (f) => {
    for (const path of ['nope', 'servers/', 'register/', 'index.htm', '%2e%2e/etc/passwd']) {
      const res = await request(`${f.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(errorCode(res), 'FULCRUM_ALLOC_NOT_FOUND');
    }
    const cases: [string, string, string][] = [
      ['POST', '', 'GET, HEAD'],
      ['DELETE', 'servers', 'GET, HEAD'],
      ['POST', 'allocate', 'GET'],
      ['PUT', 'metrics', 'GET, HEAD'],
      ['POST', 'events', 'GET'],
      ['GET', 'register', 'POST'],
      ['GET', 'register/127.0.0.1:80', 'DELETE'],
      ['GET', 'unregister', 'POST'],
      ['OPTIONS', 'servers', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await request(`${f.url}${path}`, { method });
      assert.equal(res.status, 405, `${method} /${path}`);
      assert.equal(errorCode(res), 'FULCRUM_ALLOC_METHOD_NOT_ALLOWED');
      assert.equal(res.headers.allow, allow);
    }
  }));

test('alloc - bad query strings, bad URL encoding and malformed HTTP get 400 JSON, never a crash', () =>
  withAlloc({ servers: 1 }, async (f) => {
    for (const q of ['key=%zz', 'key=%E0%A4%A', 'key=a&key=b', 'key=', `key=${'x'.repeat(257)}`, '%=1']) {
      const res = await request(`${f.url}allocate?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(errorCode(res), 'FULCRUM_ALLOC_BAD_REQUEST', q);
    }
    const badPath = await request(`${f.url}servers%E0%A4%A`);
    assert.equal(badPath.status, 400);
    const port = f.service.address!.port;
    for (const raw of [
      'GET //servers HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'NONSENSE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      const answer = await rawHttp(port, raw);
      assert.match(answer, /^HTTP\/1\.1 4\d\d /, JSON.stringify(raw.slice(0, 40)));
      assert.match(answer, /"error":\{"code":"FULCRUM_ALLOC_/);
    }
    // Still alive and serving.
    assert.equal((await request(`${f.url}allocate`)).status, 200);
  }));

test('alloc - GET /metrics exposes per-server balances, spread, allocations and HTTP counters', () =>
  withAlloc({ servers: 2 }, async (f) => {
    const [a, b] = f.servers.map((s) => addressOf(s.endpoint!));
    f.sockets.push(await openSocket(f.servers[0]!.endpoint!.port), await openSocket(f.servers[0]!.endpoint!.port));
    assert.ok(await balancesShown(f, { [a!]: 2, [b!]: 0 }));
    await request(`${f.url}allocate`);
    await request(`${f.url}nope`);
    const res = await request(`${f.url}metrics`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = res.text;
    assert.match(m, new RegExp(`^fulcrum_server_balance\\{server="${a}"\\} 2$`, 'm'));
    assert.match(m, new RegExp(`^fulcrum_server_balance\\{server="${b}"\\} 0$`, 'm'));
    assert.match(m, new RegExp(`^fulcrum_server_pending_reservations\\{server="${b}"\\} 1$`, 'm'));
    assert.match(m, /^fulcrum_cluster_spread 2$/m);
    assert.match(m, /^fulcrum_cluster_connections 2$/m);
    assert.match(m, /^fulcrum_cluster_servers 2$/m);
    assert.match(m, /^fulcrum_alloc_allocations_total\{strategy="least",outcome="ok"\} 1$/m);
    assert.match(m, /^fulcrum_alloc_http_requests_total\{route="other",status="404"\} 1$/m);
    assert.match(m, /^fulcrum_alloc_errors_total\{code="FULCRUM_ALLOC_NOT_FOUND"\} 1$/m);
    assert.match(m, /^fulcrum_alloc_heartbeat_registrations 0$/m);
    assert.match(m, /^fulcrum_zk_connected 1$/m);
    const watch = /^fulcrum_zk_watch_events_total (\d+)$/m.exec(m);
    assert.ok(watch && Number(watch[1]) > 0, 'watch events counted');
    // A private registry: nothing leaks into prom-client's global one.
    const { register } = await import('prom-client');
    assert.doesNotMatch(await register.metrics(), /fulcrum_/);
  }));

test('alloc - GET /events sends the snapshot, an update after a new TCP connection, and cleans up on disconnect', () =>
  withAlloc({ servers: 2 }, async (f) => {
    const listenersBefore = f.service.cache.listenerCount('snapshot');
    const ev = await openEvents(`${f.url}events`);
    const [a, b] = f.servers.map((s) => addressOf(s.endpoint!));
    const first = await ev.waitFor<EventPayload>(() => true);
    assert.deepEqual(
      first.servers.map((s) => [s.name, s.balance, s.draining, s.maxConnections]),
      [
        [a, 0, false, null],
        [b, 0, false, null],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    assert.equal(first.spread, 0);
    assert.equal(typeof first.at, 'number');
    assert.equal(f.service.events.clients, 1);

    f.sockets.push(await openSocket(f.servers[0]!.endpoint!.port));
    const update = await ev.waitFor<EventPayload>((e) => e.servers.some((s) => s.name === a && s.balance === 1));
    assert.equal(update.spread, 1);
    assert.equal(update.total, 1);

    ev.close();
    assert.ok(await eventually(() => f.service.events.clients === 0), 'client removed on disconnect');
    assert.equal(f.service.cache.listenerCount('snapshot'), listenersBefore, 'no listener per client');
  }));

test('alloc - GET /events is throttled to at most 10 events per second', () =>
  withAlloc({ servers: 2, service: { sseHeartbeatMs: 1_000 } }, async (f) => {
    const ev = await openEvents(`${f.url}events`);
    await ev.waitFor(() => true);
    const start = Date.now();
    const startCount = ev.events.length;
    // Churn for 1.2 s: each server writes its balance up to every 20 ms.
    while (Date.now() - start < 1_200) {
      const s = await openSocket(f.servers[f.sockets.length % 2]!.endpoint!.port);
      f.sockets.push(s);
      await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = Date.now() - start;
    const got = ev.events.length - startCount;
    assert.ok(got >= 2, `events flowed (${got})`);
    assert.ok(got <= Math.ceil(elapsed / 100) + 1, `${got} events in ${elapsed} ms`);
    // The heartbeat comment arrives on an idle stream.
    assert.ok(await eventually(() => ev.comments.some((c) => c.startsWith(': keep-alive')), 3_000));
    ev.close();
  }));

test('alloc - keeps serving the last good picture while ZooKeeper is away', async () => {
  const px = await startProxy(firstPort(await testZk()));
  try {
    await withAlloc({ servers: 2, connect: `127.0.0.1:${px.port}` }, async (f) => {
      const before = (await request(f.url)).text;
      assert.equal(before.split(',').length, 2);
      await px.blackhole(true);
      const session: ZkSession = f.session;
      assert.ok(await eventually(() => !session.isConnected, 10_000), 'session noticed the partition');
      assert.equal((await request(f.url)).text, before);
      assert.equal((await request(`${f.url}allocate`)).status, 200);
      assert.equal((await request(`${f.url}servers`)).json<unknown[]>().length, 2);
      const health = (await request(`${f.url}healthz`)).json<{ zookeeper: { connected: boolean } }>();
      assert.equal(health.zookeeper.connected, false);
      assert.match((await request(`${f.url}metrics`)).text, /^fulcrum_zk_connected 0$/m);
      await px.blackhole(false);
      assert.ok(await eventually(() => session.isConnected, 15_000), 'back');
    });
  } finally {
    await px.close();
  }
});
