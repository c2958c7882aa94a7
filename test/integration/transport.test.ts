import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { issueToken } from '../../src/messaging/token.js';
import { ZkSession } from '../../src/zk/session.js';
import { assertUsageExit, runCliCommand, startCli, type AnyCliCommand as AnyCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { closeMessaging, loginOn, startMessagingServers } from '../helpers/messaging.js';
import { nodeData } from '../helpers/nodes.js';
import { readmeClient } from '../helpers/readme-client.js';
import { makeTestCa } from '../helpers/test-ca.js';
import { withRoot } from '../helpers/zk.js';

test('transport - a WebSocket client written from the README is counted, logs in, gets a push and a private message from a TCP user, migrates; text and plain HTTP are refused', async () => {
  await withRoot('ws', async ({ connect, raw, root }) => {
    const server = new MessagingServer({ zk: connect, root, port: 0 });
    await server.listen();
    const session = new ZkSession({ connect });
    const router = new Router({ zk: session, root });
    let tcpUser: Awaited<ReturnType<typeof loginOn>> | undefined;
    try {
      await router.start();
      const port = server.endpoint!.port;
      const ws = await readmeClient('ws', port);
      ws.send({ type: 'ping', seq: 1 }, { type: 'login', user: 'wsann' });
      assert.deepEqual(await ws.next((f) => f.type === 'welcome'), { type: 'welcome', user: 'wsann', server: server.id });
      assert.deepEqual(ws.frames[0], { type: 'pong', seq: 1, id: server.id });
      // Counted like any connection, in the node too.
      await server.cluster.flushed();
      assert.equal(server.cluster.balance, 1);
      const published = (await nodeData(raw, root)).get(server.id)!;
      assert.equal(published.balance, 1);
      assert.deepEqual(published.transports, ['tcp', 'ws']);
      assert.equal(published.tls, undefined);

      tcpUser = await loginOn(server, { user: 'tcpbob' });
      const sent = await tcpUser.client.send('wsann', { text: 'hi from tcp' });
      assert.deepEqual(sent, { delivered: true });
      const pushed = await router.push('wsann', { text: 'pushed' });
      assert.equal(pushed.acked, true);
      const messages = ws.frames.filter((f) => f.type === 'message');
      assert.deepEqual(messages.map((m) => [m.from, m.body]), [['tcpbob', { text: 'hi from tcp' }], [undefined, { text: 'pushed' }]]);

      // migrate goes through the WebSocket's framing.
      const wsSocket = [...server.connections].find((s) => s !== tcpUser!.client.socket && server.cluster.connectionInfo(s)?.protocol)!;
      assert.equal(server.cluster.migrate(wsSocket, { reason: 'test' }), 'asked');
      assert.deepEqual(await ws.next((f) => f.type === 'migrate'), { type: 'migrate', reason: 'test', exclude: [server.id] });

      // A text message is a protocol error: error, then close.
      ws.sendText!('hello');
      await ws.closed;
      assert.deepEqual(ws.frames.at(-1), { type: 'error', code: 'FULCRUM_BAD_FRAME', message: 'a text message (frames are binary messages)' });

      // Plain HTTP on the client port: 426, closed; another path: 404.
      for (const [request, status] of [['GET / HTTP/1.1\r\nhost: x\r\n\r\n', '426'], ['GET /other HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', '404']] as const) {
        const s = net.connect(port, '127.0.0.1');
        let answer = '';
        s.on('data', (d) => (answer += d.toString()));
        s.write(request);
        await new Promise((r) => s.once('close', r));
        assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `));
      }
    } finally {
      await tcpUser?.client.disconnect();
      router.close();
      await closeMessaging([server]);
      session.close();
    }
  });
});

test('transport - servers --tls-cert/--tls-key: raw TLS and wss clients from the README, verified against a test CA, log in and get a private message across TLS gateways and a push; a plaintext client gets no route', async () => {
  const ca = makeTestCa();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-'));
  const secret = 'tls-secret-9e2';
  writeFileSync(join(dir, 'secret'), `${secret}\n`);
  try {
    await withRoot('tls', async ({ connect, raw, root }) => {
      const cli = startCli('servers', ['--zk', connect, '--root', root, '--count', '2', '--secret-file', join(dir, 'secret'), '--tls-cert', ca.certFile, '--tls-key', ca.keyFile, '--gateway-ca', ca.caFile], { timeoutMs: 90_000, env: { FULCRUM_SECRET: undefined } });
      const session = new ZkSession({ connect });
      const router = new Router({ zk: session, root, secret, tls: { ca: ca.ca } });
      const cache = new ServerCache({ session, root });
      let client: ClusterClient | undefined;
      try {
        await cli.waitForStdout(/servers registered under .*over TLS/, 60_000);
        const nodes = [...(await nodeData(raw, root)).values()];
        assert.equal(nodes.length, 2);
        for (const d of nodes) assert.deepEqual([d.transports, d.tls, d.gatewayTls], [['tcp', 'ws'], true, true]);
        const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];

        const alice = await readmeClient('wss', a.port, { ca: ca.ca });
        alice.send({ type: 'login', user: 'alice', token: issueToken(secret, 'alice') });
        await alice.next((f) => f.type === 'welcome');
        const bob = await readmeClient('tls', b.port, { ca: ca.ca });
        bob.send({ type: 'login', user: 'bob', token: issueToken(secret, 'bob') }, { type: 'send', id: 1, to: 'alice', body: 'over TLS' });
        assert.deepEqual(await bob.next((f) => f.type === 'sent'), { type: 'sent', id: 1, delivered: true });
        await router.start();
        assert.equal((await router.push('alice', 'pushed')).acked, true);
        assert.deepEqual(alice.frames.filter((f) => f.type === 'message').map((m) => [m.from, m.body]), [['bob', 'over TLS'], [undefined, 'pushed']]);

        // Plaintext on a TLS port: closed before anything is read; no route appears.
        const plain = await new Promise<{ got: Buffer[] }>((resolve) => {
          const s = net.connect(a.port, '127.0.0.1');
          const got: Buffer[] = [];
          s.on('data', (d) => got.push(d));
          s.on('error', () => {});
          s.once('connect', () => {
            const body = Buffer.from([0x82, 0xa4, ...Buffer.from('type'), 0xa5, ...Buffer.from('login'), 0xa4, ...Buffer.from('user'), 0xa3, ...Buffer.from('eve')]);
            const head = Buffer.alloc(4);
            head.writeUInt32BE(body.length);
            s.write(Buffer.concat([head, body]));
          });
          s.once('close', () => resolve({ got }));
        });
        assert.equal(Buffer.concat(plain.got).length, 0, 'nothing but the close answers a plaintext client');
        const wsPlain = await readmeClient('ws', a.port).then(() => 'opened', (e: Error) => e.message);
        assert.notEqual(wsPlain, 'opened');
        // A route written for eve would be visible by now: alice's login went through the same server and the router sees her.
        assert.equal(router.route('eve'), undefined);
        assert.equal(router.route('alice')?.server, a.id);

        // The library client over wss, trusting the test CA.
        client = new ClusterClient({ provider: new BalanceProvider({ source: cache, root }), transport: 'ws', tls: { ca: ca.ca }, reconnect: false });
        await client.connect({ user: 'carol', token: issueToken(secret, 'carol') });
        assert.equal((await router.push('carol', 'hello carol')).acked, true);
        assert.equal(await eventually(() => router.route('carol') !== undefined, 5_000), true);
        alice.close();
        bob.close();
      } finally {
        await client?.disconnect();
        router.close();
        cache.close();
        session.close();
        cli.kill('SIGTERM');
        await cli.exited;
      }
    });
  } finally {
    ca.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('transport - bad TLS and token-key flags exit 2 with one line before anything starts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-flags-'));
  const ca = makeTestCa();
  try {
    writeFileSync(join(dir, 'bad.json'), '{"k1": 5}');
    writeFileSync(join(dir, 'keys.json'), '{"k1": "one"}');
    writeFileSync(join(dir, 'notjson'), 'k1=one');
    const cases: [AnyCli, string[], RegExp][] = [
      ['servers', ['--count', '1', '--tls-cert', ca.certFile], /--tls-cert and --tls-key go together/],
      ['servers', ['--count', '1', '--tls-cert', ca.certFile, '--tls-key', ca.caFile], /--tls-key: .* is not a PEM private key/],
      ['servers', ['--count', '1', '--gateway-ca', join(dir, 'notjson')], /--gateway-ca: .* is not a PEM certificate/],
      ['servers', ['--count', '1', '--token-keys-file', join(dir, 'notjson')], /--token-keys-file: .* is not JSON/],
      ['servers', ['--count', '1', '--token-keys-file', join(dir, 'bad.json')], /--token-keys-file: key "k1" must be/],
      ['servers', ['--count', '1', '--token-grace-ms', '-1'], /--token-grace-ms/],
      ['alloc', ['--token-kid', 'k1'], /--token-keys-file and --token-kid go together/],
      ['alloc', ['--token-keys-file', join(dir, 'keys.json'), '--token-kid', 'k2'], /--token-kid: k2 is not a key of/],
    ];
    for (const [cmd, args, pattern] of cases) {
      const r = await runCliCommand(cmd, ['--zk', '127.0.0.1:1', ...args], { env: { FULCRUM_SECRET: 'x' } });
      assertUsageExit(r, `${cmd} ${args.join(' ')}`, pattern);
    }
  } finally {
    ca.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('transport - ClusterClient over WebSocket follows migrate (logged in on the new server before the old one closes) and re-homes when its server goes', async () => {
  await withRoot('ws-move', async ({ connect, root }) => {
    const servers = await startMessagingServers(2, { zk: connect, root });
    const session = new ZkSession({ connect });
    const cache = new ServerCache({ session, root });
    const client = new ClusterClient({ provider: new BalanceProvider({ source: cache, root, strategy: 'least' }), transport: 'ws' });
    const migrated: [string, string][] = [];
    const loggedIn: string[] = [];
    client.on('migrated', (from, to) => migrated.push([from.name, to.name]));
    client.on('loggedIn', (_u, server) => loggedIn.push(server));
    const failures: string[] = [];
    client.on('migrateFailed', (e) => failures.push(e.message));
    try {
      await cache.start();
      assert.equal(await eventually(() => cache.current().servers.length === 2), true);
      await client.connect({ user: 'mover' });
      const first = servers.find((s) => s.userCount === 1)!;
      const second = servers.find((s) => s !== first)!;
      assert.equal(first.cluster.migrate(client.socket === undefined ? [...first.connections][0]! : [...first.connections].find((s) => s.remotePort === client.socket!.localPort)!, { reason: 'test' }), 'asked');
      assert.equal(await eventually(() => migrated.length === 1 && first.userCount === 0 && second.userCount === 1), true, `migrated ${JSON.stringify(migrated)}, failed ${JSON.stringify(failures)}`);
      assert.deepEqual(migrated, [[first.id, second.id]]);
      await second.close();
      assert.equal(await eventually(() => first.userCount === 1 && client.state === 'connected', 15_000), true, 'logged in again on the remaining server');
      assert.deepEqual(loggedIn, [first.id, second.id, first.id]);
      assert.equal(client.reconnects, 1);
    } finally {
      await client.disconnect();
      cache.close();
      session.close();
      await closeMessaging(servers);
    }
  });
});
