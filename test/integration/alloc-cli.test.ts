import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { checkToken } from '../../src/messaging/token.js';
import { request } from '../helpers/alloc-fixture.js';
import { closeMessaging, startMessagingServers } from '../helpers/messaging.js';
import { makeTestCa } from '../helpers/test-ca.js';
import { withRoot } from '../helpers/zk.js';

const CLI = 'dist/src/tools/cli/alloc.js';

test('alloc cli - bad input is one line on stderr and exit code 2', () => {
  for (const args of [
    ['--port', 'x'],
    ['--port', '70000'],
    ['--strategy', 'nope'],
    ['--root', 'relative'],
    ['--zk', 'nohost'],
    ['--bogus'],
    ['--host', ''],
    ['--secret-file', '/nonexistent/secret'],
    ['--tls-cert', '/nonexistent/cert.pem'],
    ['--tls-key', '/nonexistent/key.pem'],
    ['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'],
  ]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^alloc: /);
  }
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--strategy NAME/);
});

test('alloc cli - prints the URL, serves, and exits 0 on SIGTERM', () =>
  withRoot('alloc-cli', async ({ connect, root }) => {
    const child = spawn(process.execPath, [CLI, '--zk', connect, '--root', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const { url } = await printedUrl(child);
      assert.equal((await request(url)).status, 200);
      const health = (await request(`${url}healthz`)).json<{ ok: boolean; messaging: { secret: boolean } }>();
      assert.equal(health.ok, true);
      assert.equal(health.messaging.secret, false);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }));

/** Resolves with the URL the alloc command prints. */
function printedUrl(child: { stdout: Readable }): Promise<{ url: string; out: () => string }> {
  let out = '';
  child.stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 10_000);
    child.stdout.on('data', (c: string) => {
      out += c;
      const m = /(https?:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, out: () => out });
      }
    });
  });
}

test('alloc cli - with --secret-file, /allocate?user=U returns a login token and /push needs the admin token', () =>
  withRoot('alloc-cli-secret', async ({ connect, root }) => {
    const secret = 'alloc-cli-secret-Wd3';
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-alloc-'));
    writeFileSync(join(dir, 'secret'), `${secret}\n`, { mode: 0o600 });
    const [server] = await startMessagingServers(1, { zk: connect, root, secret });
    const child = spawn(process.execPath, [CLI, '--zk', connect, '--root', root, '--port', '0', '--secret-file', join(dir, 'secret')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FULCRUM_SECRET: '' },
    });
    try {
      const { url, out } = await printedUrl(child);
      assert.match(out(), /messaging secret/);
      assert.equal((await request(`${url}healthz`)).json<{ messaging: { secret: boolean } }>().messaging.secret, true);
      const a = (await request(`${url}allocate?user=u1`, { headers: { authorization: `Bearer ${adminToken(secret)}` } })).json<{ token: string; name: string }>();
      assert.equal(a.name, server!.id);
      assert.equal(await checkToken(secret, 'u1', a.token), undefined, "the token is signed with the file's secret");
      const stranger = (await request(`${url}allocate?user=u1`)).json<{ token?: string; name: string }>();
      assert.deepEqual([stranger.name, stranger.token], [server!.id, undefined], 'no token without the admin token');
      const push = (auth?: string) => request(`${url}push`, { method: 'POST', body: { user: 'u1', message: 1 }, headers: auth ? { authorization: `Bearer ${auth}` } : {} });
      assert.equal((await push()).status, 401);
      assert.equal((await push(adminToken(secret))).status, 404, 'authorized; u1 is just not online');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await closeMessaging([server!]);
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test('alloc cli - with --tls-cert and --tls-key it serves HTTPS that verifies against the CA; a key of another certificate is exit code 2', () =>
  withRoot('alloc-cli-tls', async ({ connect, root }) => {
    const ca = makeTestCa();
    const child = spawn(process.execPath, [CLI, '--zk', connect, '--root', root, '--port', '0', '--tls-cert', ca.certFile, '--tls-key', ca.keyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const wrongKey = spawnSync(process.execPath, [CLI, '--tls-cert', ca.certFile, '--tls-key', `${ca.dir}/ca.key`], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(wrongKey.status, 2, wrongKey.stderr);
      assert.match(wrongKey.stderr, /^alloc: --tls-key: .* is not the key of /);
      const notPem = spawnSync(process.execPath, [CLI, '--tls-cert', ca.keyFile, '--tls-key', ca.keyFile], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(notPem.status, 2, notPem.stderr);
      assert.equal(notPem.stderr.trim().split('\n').length, 1, notPem.stderr);

      const { url } = await printedUrl(child);
      assert.match(url, /^https:\/\//);
      const health = await request(`${url}healthz`, { ca: ca.ca });
      assert.equal(health.status, 200);
      assert.equal(health.json<{ ok: boolean }>().ok, true);
      await assert.rejects(request(`${url}healthz`), /self-signed certificate|unable to verify/, 'a client without the CA refuses the certificate');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      ca.remove();
    }
  }));
