import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { request } from '../helpers/alloc-fixture.js';
import { withRoot } from '../helpers/zk.js';

const CLI = 'dist/src/tools/cli/alloc.js';

test('alloc cli - bad input is one line on stderr and exit code 2', () => {
  for (const args of [['--port', 'x'], ['--port', '70000'], ['--strategy', 'nope'], ['--root', 'relative'], ['--zk', 'nohost'], ['--bogus'], ['--host', '']]) {
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
      let out = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 10_000);
        child.stdout.on('data', (c: string) => {
          out += c;
          const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      assert.equal((await request(url)).status, 200);
      assert.equal((await request(`${url}healthz`)).json<{ ok: boolean }>().ok, true);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }));
