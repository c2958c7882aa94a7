import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { test } from 'node:test';
import { request, withAlloc } from '../helpers/alloc-fixture.js';
import { makeTestCa } from '../helpers/test-ca.js';

/** Resolves with the first bytes of an /events stream over HTTPS. */
function firstEvent(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: { accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        const m = /^data: (.*)$/m.exec(buf);
        if (m) {
          req.destroy();
          resolve(m[1]!);
        }
      });
    });
    req.on('error', reject);
  });
}

test('alloc tls - with tls the service serves HTTPS verified against the CA; plain HTTP and untrusting clients get nothing', async () => {
  const ca = makeTestCa();
  try {
    await withAlloc({ label: 'alloc-tls', servers: 1, service: { tls: { cert: ca.cert, key: ca.key } } }, async (f) => {
      assert.match(f.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const name = f.servers[0]!.id;
      assert.equal((await request(f.url, { ca: ca.ca })).text, name);
      const a = await request(`${f.url}allocate`, { ca: ca.ca });
      assert.equal(a.status, 200);
      assert.equal(a.json<{ name: string }>().name, name);
      const page = await request(f.url, { ca: ca.ca, headers: { accept: 'text/html' } });
      assert.match(page.text, /id="chart"/);
      const event = JSON.parse(await firstEvent(`${f.url}events`, ca.ca)) as { servers: { name: string }[] };
      assert.deepEqual(event.servers.map((s) => s.name), [name]);

      await assert.rejects(request(f.url), /self-signed certificate|unable to verify/, 'the CA is needed to trust it');
      // Plain HTTP on the TLS port: the handshake fails, no HTTP answer comes back.
      const plain = await new Promise<string>((resolve) => {
        const req = http.get(f.url.replace('https:', 'http:'), (res) => resolve(`answered ${res.statusCode}`));
        req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      });
      assert.match(plain, /^error /);
    });
  } finally {
    ca.remove();
  }
});
