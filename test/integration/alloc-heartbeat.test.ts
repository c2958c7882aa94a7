import assert from 'node:assert/strict';
import { test } from 'node:test';
import type ZooKeeper from 'zookeeper';
import type { ServerListing } from '../../src/alloc/alloc-service.js';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { HEARTBEAT_ID_PREFIX } from '../../src/alloc/heartbeat-registry.js';
import { decodeServerData } from '../../src/server-data.js';
import { errorCode, rawHttp, request, rootState, withAlloc, type AllocFixture } from '../helpers/alloc-fixture.js';
import { expireSession } from '../helpers/expire-session.js';
import { eventually } from '../helpers/eventually.js';
import { nodeData } from '../helpers/nodes.js';

interface NodeStat {
  ephemeralOwner: string;
  czxid: number;
}

async function statOf(raw: ZooKeeper, path: string): Promise<NodeStat | undefined> {
  try {
    return (await raw.exists(path, false)) as NodeStat;
  } catch {
    return undefined;
  }
}

function beat(f: AllocFixture, body: Record<string, unknown>) {
  return request(`${f.url}register`, { method: 'POST', body });
}

test('alloc heartbeat - POST /register creates an ephemeral node on the service session with the exact balance', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    const res = await beat(f, { ip: '127.0.0.1', port: 7001, balance: 5, maxConnections: 50 });
    assert.equal(res.status, 200);
    const body = res.json<{ name: string; expiresAt: number; ttlMs: number; created: boolean }>();
    assert.equal(body.name, '127.0.0.1:7001');
    assert.equal(body.created, true);
    assert.equal(body.ttlMs, 10_000);
    assert.ok(Math.abs(body.expiresAt - (Date.now() + 10_000)) < 2_000);

    const stat = await statOf(f.raw, `${f.root}/127.0.0.1:7001`);
    assert.equal(stat?.ephemeralOwner, f.session.sessionId, 'ephemeral, owned by the alloc service');
    const data = (await nodeData(f.raw, f.root)).get('127.0.0.1:7001');
    assert.equal(data?.balance, 5);
    assert.equal(data?.maxConnections, 50);
    assert.equal(data?.id, `${HEARTBEAT_ID_PREFIX}127.0.0.1:7001`);

    assert.ok(await eventually(async () => (await request(f.url)).text === '127.0.0.1:7001'));
    const listed = (await request(`${f.url}servers`)).json<ServerListing[]>();
    assert.equal(listed[0]?.source, 'heartbeat');
    assert.equal(listed[0]?.heartbeat?.ttlMs, 10_000);
    assert.equal((await request(`${f.url}allocate`)).json<{ port: number }>().port, 7001);
  }));

test('alloc heartbeat - later heartbeats set the absolute balance and keep the same node', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    const path = `${f.root}/127.0.0.1:7002`;
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7002, balance: 5 })).json<{ created: boolean }>().created, true);
    const created = await statOf(f.raw, path);
    for (const balance of [2, 9, 0, 4]) {
      const res = await beat(f, { ip: '127.0.0.1', port: 7002, balance });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ created: boolean }>().created, false);
      assert.ok(await eventually(async () => (await nodeData(f.raw, f.root)).get('127.0.0.1:7002')?.balance === balance), `balance ${balance}`);
    }
    // maxConnections and draining follow the heartbeat too.
    await beat(f, { ip: '127.0.0.1', port: 7002, balance: 4, maxConnections: 10, draining: true });
    assert.ok(
      await eventually(async () => {
        const d = (await nodeData(f.raw, f.root)).get('127.0.0.1:7002');
        return d?.maxConnections === 10 && d.draining === true;
      }),
    );
    assert.ok(await eventually(async () => (await request(f.url)).text === ''), 'a draining server is not listed');
    assert.equal((await request(`${f.url}allocate`)).status, 503, 'nor handed out');
    assert.equal((await statOf(f.raw, path))?.czxid, created?.czxid, 'never re-created');
  }));

test('alloc heartbeat - a silent server is removed after its TTL; one that keeps beating stays', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    const silent = `${f.root}/127.0.0.1:7003`;
    const alive = `${f.root}/127.0.0.1:7004`;
    const t0 = Date.now();
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7003, balance: 1, ttlMs: 1_500 })).status, 200);
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7004, balance: 1, ttlMs: 1_500 })).status, 200);
    const aliveCzxid = (await statOf(f.raw, alive))?.czxid;
    let beats = 0;
    const timer = setInterval(() => {
      beats++;
      void beat(f, { ip: '127.0.0.1', port: 7004, balance: 1 + (beats % 3), ttlMs: 1_500 });
    }, 400);
    try {
      assert.ok(await statOf(f.raw, silent));
      const gone = await eventually(async () => (await statOf(f.raw, silent)) === undefined, 5_000, 50);
      const after = Date.now() - t0;
      assert.ok(gone, 'silent server deleted');
      assert.ok(after >= 1_400, `not before its TTL (${after} ms)`);
      assert.ok(await eventually(async () => !(await request(f.url)).text.includes(':7003')), 'no longer handed out');
      await new Promise((r) => setTimeout(r, 1_000)); // well past 1.5 s since the first beat
      assert.equal((await statOf(f.raw, alive))?.czxid, aliveCzxid, 'the beating server kept its node');
    } finally {
      clearInterval(timer);
    }
    assert.ok(f.service.heartbeats.expiredCount >= 1);
    assert.match((await request(`${f.url}metrics`)).text, /^fulcrum_alloc_heartbeat_expired_total 1$/m);
  }));

test('alloc heartbeat - every invalid body gets a JSON 4xx and writes nothing to ZooKeeper', () =>
  withAlloc({ label: 'hb', service: { maxBodyBytes: 16 * 1024 } }, async (f) => {
    // One valid registration, so "nothing written" also covers updates of an existing node.
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7010, balance: 3 })).status, 200);
    assert.ok(await eventually(async () => (await nodeData(f.raw, f.root)).get('127.0.0.1:7010')?.balance === 3));
    await new Promise((r) => setTimeout(r, 100)); // let the first write settle
    const before = await rootState(f.raw, f.root);
    const ok = { ip: '127.0.0.1', port: 7011, balance: 1 };
    const bad: [string, unknown, number, string?][] = [
      ['not JSON', '{"ip":', 400],
      ['empty body', '', 400],
      ['array', [ok], 400],
      ['null', 'null', 400],
      ['string', '"127.0.0.1:7011"', 400],
      ['missing ip', { port: 7011, balance: 1 }, 400, 'ip'],
      ['missing port', { ip: '127.0.0.1', balance: 1 }, 400, 'port'],
      ['missing balance', { ip: '127.0.0.1', port: 7011 }, 400, 'balance'],
      ['host name', { ...ok, ip: 'localhost' }, 400, 'ip'],
      ['IPv4 wildcard', { ...ok, ip: '0.0.0.0' }, 400, 'ip'],
      ['IPv6 wildcard', { ...ok, ip: '::' }, 400, 'ip'],
      ['IPv6 wildcard long', { ...ok, ip: '0:0:0:0:0:0:0:0' }, 400, 'ip'],
      ['bracketed IPv6', { ...ok, ip: '[::1]' }, 400, 'ip'],
      ['zone id', { ...ok, ip: 'fe80::1%eth0' }, 400, 'ip'],
      ['bad octet', { ...ok, ip: '1.2.3.256' }, 400, 'ip'],
      ['ip with port', { ...ok, ip: '127.0.0.1:80' }, 400, 'ip'],
      ['ip number', { ...ok, ip: 2130706433 }, 400, 'ip'],
      ['port 0', { ...ok, port: 0 }, 400, 'port'],
      ['port 65536', { ...ok, port: 65536 }, 400, 'port'],
      ['port fraction', { ...ok, port: 80.5 }, 400, 'port'],
      ['port string', { ...ok, port: '80' }, 400, 'port'],
      ['negative balance', { ...ok, balance: -1 }, 400, 'balance'],
      ['fractional balance', { ...ok, balance: 1.5 }, 400, 'balance'],
      ['string balance', { ...ok, balance: '3' }, 400, 'balance'],
      ['huge balance', { ...ok, balance: 2 ** 60 }, 400, 'balance'],
      ['negative maxConnections', { ...ok, maxConnections: -1 }, 400, 'maxConnections'],
      ['string maxConnections', { ...ok, maxConnections: '10' }, 400, 'maxConnections'],
      ['ttl too short', { ...ok, ttlMs: 999 }, 400, 'ttlMs'],
      ['ttl too long', { ...ok, ttlMs: 300_001 }, 400, 'ttlMs'],
      ['ttl fraction', { ...ok, ttlMs: 1500.5 }, 400, 'ttlMs'],
      ['draining string', { ...ok, draining: 'yes' }, 400, 'draining'],
      ['unknown field', { ...ok, balnce: 2 }, 400, 'balnce'],
      ['proto field', '{"ip":"127.0.0.1","port":7011,"balance":1,"__proto__":{"x":1}}', 400, '__proto__'],
      // The existing registration must not change through a bad heartbeat either.
      ['bad update of a known server', { ip: '127.0.0.1', port: 7010, balance: -5 }, 400, 'balance'],
    ];
    for (const [label, body, status, field] of bad) {
      const res = await beat(f, body as Record<string, unknown>);
      assert.equal(res.status, status, `${label}: ${res.text}`);
      assert.equal(errorCode(res), 'FULCRUM_ALLOC_BAD_REQUEST', label);
      if (field) assert.equal(res.json<{ error: { field?: string } }>().error.field, field, label);
    }
    const other: [string, Parameters<typeof request>[1], number, string][] = [
      ['text/plain', { method: 'POST', body: JSON.stringify(ok), headers: { 'content-type': 'text/plain' } }, 415, 'FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE'],
      ['form', { method: 'POST', body: 'ip=127.0.0.1&port=7011&balance=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE'],
      ['no content type', { method: 'POST' }, 415, 'FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE'],
      ['body over 16 KiB', { method: 'POST', body: { ...ok, pad: 'x'.repeat(17 * 1024) } }, 413, 'FULCRUM_ALLOC_PAYLOAD_TOO_LARGE'],
      ['unregister unknown', { method: 'POST', body: { ip: '127.0.0.1', port: 7011 } }, 404, 'FULCRUM_ALLOC_NOT_FOUND'],
      ['unregister bad ip', { method: 'POST', body: { ip: 'nope', port: 7011 } }, 400, 'FULCRUM_ALLOC_BAD_REQUEST'],
    ];
    for (const [label, opts, status, code] of other) {
      const res = await request(`${f.url}${label.startsWith('unregister') ? 'unregister' : 'register'}`, opts);
      assert.equal(res.status, status, `${label}: ${res.text}`);
      assert.equal(errorCode(res), code, label);
    }
    // A chunked body with no Content-Length that grows past the limit is cut off too.
    const big = await new Promise<number>((resolve, reject) => {
      void import('node:http').then(({ default: http }) => {
        const req = http.request(`${f.url}register`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('{"ip":"127.0.0.1","port":7011,"balance":1,"pad":"');
        const timer = setInterval(() => {
          if (!req.write('y'.repeat(4096))) clearInterval(timer);
        }, 1);
        req.on('close', () => clearInterval(timer));
      });
    });
    assert.equal(big, 413);
    for (const bad of ['127.0.0.1', '127.0.0.1:0', 'localhost:80', '0.0.0.0:80', '[::]:80', '%zz:80']) {
      const res = await request(`${f.url}register/${bad}`, { method: 'DELETE' });
      assert.equal(res.status, 400, bad);
    }
    await new Promise((r) => setTimeout(r, 200)); // a stray write would have landed by now
    assert.deepEqual(await rootState(f.raw, f.root), before, 'ZooKeeper unchanged');
    assert.equal(f.service.heartbeats.size, 1);
  }));

test('alloc heartbeat - DELETE /register/{ip}:{port} and POST /unregister remove the node at once', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    for (const [ip, port] of [
      ['127.0.0.1', 7020],
      ['127.0.0.1', 7021],
      ['::1', 7022],
      ['0:0:0:0:0:0:0:1', 7023],
    ] as const) {
      assert.equal((await beat(f, { ip, port, balance: 0 })).status, 200);
    }
    const names = [...(await nodeData(f.raw, f.root)).keys()].sort();
    assert.deepEqual(names, ['127.0.0.1:7020', '127.0.0.1:7021', '[::1]:7022', '[::1]:7023']);

    let res = await request(`${f.url}register/127.0.0.1:7020`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { name: '127.0.0.1:7020', removed: true });
    assert.equal(await statOf(f.raw, `${f.root}/127.0.0.1:7020`), undefined, 'deleted before the answer');

    res = await request(`${f.url}unregister`, { method: 'POST', body: { ip: '127.0.0.1', port: 7021 } });
    assert.equal(res.status, 200);
    assert.equal(await statOf(f.raw, `${f.root}/127.0.0.1:7021`), undefined);

    res = await request(`${f.url}register/%5B::1%5D:7022`, { method: 'DELETE' });
    assert.equal(res.status, 200, res.text);
    res = await request(`${f.url}register/[0:0::1]:7023`, { method: 'DELETE' });
    assert.equal(res.status, 200, res.text);

    res = await request(`${f.url}register/127.0.0.1:7020`, { method: 'DELETE' });
    assert.equal(res.status, 404);
    assert.equal(errorCode(res), 'FULCRUM_ALLOC_NOT_FOUND');
    assert.equal((await nodeData(f.raw, f.root)).size, 0);
  }));

test('alloc heartbeat - a name held by a native server is refused with 409 and left alone', () =>
  withAlloc({ label: 'hb', servers: 1 }, async (f) => {
    const native = f.servers[0]!;
    const path = `${f.root}/${native.id}`;
    const before = await statOf(f.raw, path);
    const res = await beat(f, { ip: '127.0.0.1', port: native.endpoint!.port, balance: 99 });
    assert.equal(res.status, 409);
    assert.equal(errorCode(res), 'FULCRUM_ALLOC_NAME_TAKEN');
    const after = await statOf(f.raw, path);
    assert.equal(after?.ephemeralOwner, before?.ephemeralOwner);
    assert.equal(after?.czxid, before?.czxid);
    assert.equal((await nodeData(f.raw, f.root)).get(native.id)?.balance, 0);
    assert.equal(f.service.heartbeats.size, 0);
  }));

test('alloc heartbeat - simultaneous first heartbeats of one server create one node', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => beat(f, { ip: '127.0.0.1', port: 7030, balance: i })));
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(answers.filter((a) => a.json<{ created: boolean }>().created).length, 1);
    assert.equal((await nodeData(f.raw, f.root)).size, 1);
    assert.ok(await eventually(async () => (await nodeData(f.raw, f.root)).get('127.0.0.1:7030')?.balance === 19));
  }));

test('alloc heartbeat - nodes come back with their balance after the service session expires, and go when it closes', () =>
  withAlloc({ label: 'hb' }, async (f) => {
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7040, balance: 7, ttlMs: 60_000 })).status, 200);
    const path = `${f.root}/127.0.0.1:7040`;
    const oldOwner = (await statOf(f.raw, path))?.ephemeralOwner;
    await expireSession(f.session.zk, f.connect);
    const back = await eventually(async () => {
      const s = await statOf(f.raw, path);
      return s !== undefined && s.ephemeralOwner !== oldOwner && s.ephemeralOwner === f.session.sessionId;
    }, 15_000);
    assert.ok(back, 'node re-created on the new session');
    const [, data] = (await f.raw.get(path, false)) as [unknown, Buffer];
    assert.equal(decodeServerData(data).balance, 7);
    // A heartbeat after expiry updates the re-created node.
    assert.equal((await beat(f, { ip: '127.0.0.1', port: 7040, balance: 8, ttlMs: 60_000 })).status, 200);
    assert.ok(await eventually(async () => (await nodeData(f.raw, f.root)).get('127.0.0.1:7040')?.balance === 8));

    await f.service.close();
    assert.equal(await statOf(f.raw, path), undefined, 'close() deletes heartbeat nodes');
  }));

test('alloc heartbeat - with a secret, register, unregister and DELETE need the admin token, refused before the body is read', () => {
  const secret = 'hb-secret-M5';
  const admin = { authorization: `Bearer ${adminToken(secret)}` };
  return withAlloc({ label: 'hb', service: { secret } }, async (f) => {
    const before = await rootState(f.raw, f.root);
    const ok = { ip: '127.0.0.1', port: 7050, balance: 1 };
    const refused: [string, Parameters<typeof request>[0], Parameters<typeof request>[1]][] = [
      ['register', `${f.url}register`, { method: 'POST', body: ok }],
      ['register, wrong token', `${f.url}register`, { method: 'POST', body: ok, headers: { authorization: `Bearer ${adminToken('other')}` } }],
      ['register, Basic', `${f.url}register`, { method: 'POST', body: ok, headers: { authorization: `Basic ${Buffer.from(`x:${secret}`).toString('base64')}` } }],
      ['register, text/plain (401 before 415)', `${f.url}register`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }],
      ['register, 20 KB (401 before 413)', `${f.url}register`, { method: 'POST', body: { ...ok, pad: 'x'.repeat(20_000) } }],
      ['unregister', `${f.url}unregister`, { method: 'POST', body: { ip: '127.0.0.1', port: 7050 } }],
      ['DELETE', `${f.url}register/127.0.0.1:7050`, { method: 'DELETE' }],
    ];
    for (const [label, url, opts] of refused) {
      const res = await request(url, opts);
      assert.equal(res.status, 401, `${label}: ${res.text}`);
      assert.equal(errorCode(res), 'FULCRUM_ALLOC_UNAUTHORIZED', label);
      assert.match(String(res.headers['www-authenticate']), /^Bearer/, label);
    }
    // Headers that announce a body which never comes: the 401 arrives anyway, so the body was not waited for.
    const head = 'POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const answer = await rawHttp(f.service.address!.port, head, { halfClose: false });
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /"code":"FULCRUM_ALLOC_UNAUTHORIZED"/);
    assert.deepEqual(await rootState(f.raw, f.root), before, 'nothing written to ZooKeeper');
    assert.equal(f.service.heartbeats.size, 0);

    // With the admin token (or the secret) each of them works.
    assert.equal((await request(`${f.url}register`, { method: 'POST', body: ok, headers: admin })).status, 200);
    assert.equal((await request(`${f.url}register/127.0.0.1:7050`, { method: 'DELETE', headers: admin })).status, 200);
    assert.equal((await request(`${f.url}register`, { method: 'POST', body: ok, headers: { authorization: `Bearer ${secret}` } })).status, 200);
    assert.equal((await request(`${f.url}unregister`, { method: 'POST', body: { ip: '127.0.0.1', port: 7050 }, headers: admin })).status, 200);
    assert.equal((await nodeData(f.raw, f.root)).size, 0);
    // Reads stay open.
    assert.equal((await request(`${f.url}servers`)).status, 200);
  });
});
