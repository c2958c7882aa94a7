// fulcrum as a dependency: `npm pack`, then `npm install <tarball>` in a fresh application under /tmp
// (nothing beside it), exactly as an application would. Dependencies come from the npm registry
// through the machine's npm cache (--prefer-offline); the addon is built from source there.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, runProcess, type CliResult } from '../helpers/cli.js';
import { withRoot } from '../helpers/zk.js';

const NPM_TIMEOUT_MS = 480_000;
const APP_TIMEOUT_MS = 60_000;
const PATCH_MARK = 'RELEASES_STALE_POLL';

/** npm's own variables from the `npm test` around us would point the child npm at this repository. */
const npmEnv: Record<string, undefined> = Object.fromEntries(Object.keys(process.env).filter((k) => /^npm_|^INIT_CWD$/i.test(k)).map((k) => [k, undefined]));

function npm(args: string[], cwd: string): Promise<CliResult> {
  return runProcess('npm', args, { cwd, env: npmEnv, timeoutMs: NPM_TIMEOUT_MS, label: `npm ${args[0]}` });
}

const show = (r: CliResult) => `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`;

/** The first ```ts block after a README heading. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  assert.notEqual(at, -1, `README has no "## ${heading}"`);
  const m = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(at));
  assert.ok(m, `no ts block under "## ${heading}"`);
  return m[1]!;
}

/** Replaces every occurrence of `from`, which must occur. */
function substitute(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `the README example no longer contains ${JSON.stringify(from)}`);
  return text.split(from).join(to);
}

describe('package', () => {
  let work = '';
  let app = '';
  let tarball = '';
  let packed: string[] = [];
  let install: CliResult | undefined;

  /** Runs `node <script>` in the application. */
  const node = (script: string, env: Record<string, string> = {}) => runProcess(process.execPath, [script], { cwd: app, env: { ...npmEnv, ...env }, timeoutMs: APP_TIMEOUT_MS, label: script });

  /** What the application's own copy of the addon is: where it is loaded from and whether it carries the patch. */
  async function loadedAddon(): Promise<{ zookeeper: string; addons: string[]; patched: unknown }> {
    const r = await node('addon.mjs');
    assert.equal(r.code, 0, show(r));
    return JSON.parse(r.stdout) as { zookeeper: string; addons: string[]; patched: unknown };
  }

  /** Starts a ZkSession with the installed fulcrum: 'started', or the error's code and message. */
  async function startSession(connect: string): Promise<{ started?: boolean; name?: string; code?: string; message?: string }> {
    const r = await node('start.mjs', { EXAMPLE_ZK: connect });
    assert.equal(r.code, 0, show(r));
    // The script's own line is the JSON one: the unpatched addon prints "ZooKeeper destructor invoked" when a handle is collected.
    const line = r.stdout.split('\n').find((l) => l.startsWith('{')) ?? '';
    try {
      return JSON.parse(line) as { started?: boolean; name?: string; code?: string; message?: string };
    } catch {
      assert.fail(`start.mjs printed no JSON line last:\n${show(r)}`);
    }
  }

  before(
    async () => {
      work = mkdtempSync(join(tmpdir(), 'fulcrum-pack-'));
      app = join(work, 'app');
      mkdirSync(app);
      // `npm test` has just compiled dist/; the prepare script (tsc) would only compile it again.
      const pack = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], REPO_ROOT);
      assert.equal(pack.code, 0, show(pack));
      const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
      tarball = join(work, info!.filename);
      packed = info!.files.map((f) => f.path);

      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fulcrum-app', version: '1.0.0', private: true, type: 'module' }));
      const t0 = Date.now();
      install = await npm(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], app);
      console.log(`package: npm install of the tarball into a fresh application took ${((Date.now() - t0) / 1000).toFixed(1)} s`);

      writeFileSync(
        join(app, 'addon.mjs'),
        `import { createRequire } from 'node:module';
const require = createRequire(import.meta.resolve('fulcrum'));   // resolve as fulcrum does
const ZooKeeper = require('zookeeper');
const zk = new ZooKeeper({ connect: '127.0.0.1:1' });
console.log(JSON.stringify({
  zookeeper: require.resolve('zookeeper/package.json'),
  addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')),
  patched: zk.native.constructor.${PATCH_MARK},
}));
`,
      );
      writeFileSync(
        join(app, 'start.mjs'),
        `try {
  const { ZkSession } = await import('fulcrum');
  const session = new ZkSession({ connect: process.env.EXAMPLE_ZK });
  await session.start();
  session.close();
  console.log(JSON.stringify({ started: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
}
`,
      );
    },
    { timeout: NPM_TIMEOUT_MS + 60_000 },
  );

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('package - the tarball holds the compiled library with its typings, the patch and its install script, and no tests or sources', () => {
    for (const f of ['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/alloc/index.js', 'dist/src/metrics/index.js', 'dist/src/alloc/dashboard/index.html', 'dist/src/alloc/dashboard/dashboard.css', 'dist/src/alloc/dashboard/dashboard.js', 'dist/src/zk/addon.js', 'patches/zookeeper+7.3.0.patch', 'scripts/patch-zookeeper.mjs', 'docs/zookeeper-addon-fd-patch.md']) {
      assert.ok(packed.includes(f), `${f} is packed`);
    }
    assert.deepEqual(packed.filter((f) => /^(src|test|bench|dist\/test|dist\/bench)\//.test(f) || f.endsWith('.map')), []);
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { private?: boolean; dependencies: Record<string, string> };
    assert.equal(manifest.private, undefined);
    assert.equal(manifest.dependencies.zookeeper, '7.3.0', 'the patch is for exactly this version');
  });

  it('package - one npm install of the tarball in a fresh application builds and loads the patched addon from the application', async () => {
    assert.ok(install, 'install ran');
    assert.equal(install.code, 0, show(install));
    const seen = await loadedAddon();
    const zkDir = dirname(seen.zookeeper);
    assert.ok(realpathSync(zkDir).startsWith(realpathSync(app) + '/node_modules/'), `zookeeper resolves inside the application: ${zkDir}`);
    assert.deepEqual(seen.addons, [join(zkDir, 'build', 'Release', 'zookeeper.node')]);
    assert.equal(seen.patched, true, `the loaded addon defines ${PATCH_MARK}, which only the patched source has`);
    const entries = { fulcrum: ['ClusterServer', 'ZkAddonUnpatchedError'], 'fulcrum/alloc': ['AllocService'], 'fulcrum/metrics': ['ServerMetrics'], 'fulcrum/browser': ['BrowserClient'] };
    for (const [entry, names] of Object.entries(entries)) {
      const r = await runProcess(process.execPath, ['--input-type=module', '-e', `console.log(Object.keys(await import('${entry}')).join(' '))`], { cwd: app, env: npmEnv, label: entry });
      assert.equal(r.code, 0, `${entry}: ${show(r)}`);
      for (const name of names) assert.ok(r.stdout.trim().split(' ').includes(name), `${entry} exports ${name}`);
    }
  });

  it("package - the README's library and messaging examples compile against the installed typings and run in the application", () =>
    withRoot('pack', async ({ connect, root }) => {
      // The examples use the default root: give them a chroot of their own on the test ZooKeeper.
      const zk = JSON.stringify(`${connect}${dirname(root)}`);
      const src = join(app, 'examples');
      mkdirSync(src, { recursive: true });
      let library = readmeBlock('Using it as a library');
      library = substitute(library, `'127.0.0.1:2181'`, zk);
      library = substitute(library, 'port: 7001', 'port: 0');
      writeFileSync(
        join(src, 'library.ts'),
        `${library}

// test: the connection reaches the echo handler, then everything closes
import { once as testOnce } from 'node:events';
socket.write('echo?');
const [testEcho] = await testOnce(socket, 'data');
console.log(JSON.stringify({ echoed: String(testEcho) }));
await client.disconnect();
cache.close();
session.close();
await server.close();
`,
      );
      let messaging = readmeBlock('Messaging');
      messaging = substitute(messaging, `'127.0.0.1:2181'`, zk);
      // bob is online (and his route known to the server) before alice sends to him
      messaging = substitute(
        messaging,
        'await server.listen();',
        `await server.listen();
const testBob = new testFulcrum.ClusterClient({ provider });
testBob.on('message', (m) => testBobGot.push(m));
await testBob.connect({ user: 'bob', token: issueToken(secret, 'bob', 60_000) });
for (let i = 0; server.router.online({ prefix: 'bob' }).total === 0; i++) {
  if (i === 500) throw new Error('bob never showed up in the route table');
  await new Promise((r) => setTimeout(r, 20));
}
`,
      );
      writeFileSync(
        join(src, 'messaging.ts'),
        `// test: what the example takes "as above" or from the environment
import * as testFulcrum from 'fulcrum';
import { once as testOnce } from 'node:events';
const secret = process.env.FULCRUM_SECRET!;
const testSession = new testFulcrum.ZkSession({ connect: ${zk} });
const testCache = new testFulcrum.ServerCache({ session: testSession, root: '/fulcrum/servers' });
const provider = new testFulcrum.BalanceProvider({ source: testCache });
const testBobGot: testFulcrum.ReceivedMessage[] = [];

${messaging}

// test: what bob got, alice's kick, then everything closes
const testKicked = client.kicked ?? (await testOnce(client, 'kicked'))[0];
console.log(JSON.stringify({ bob: testBobGot, kicked: testKicked }));
await testBob.disconnect();
await client.disconnect();
push.close();
testCache.close();
testSession.close();
await server.close();
`,
      );
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, outDir: 'out', rootDir: 'examples', types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')] },
          include: ['examples'],
        }),
      );
      // The application installs no compiler: the repository's tsc checks the examples against the installed .d.ts files.
      const tsc = await runProcess(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, env: npmEnv, timeoutMs: APP_TIMEOUT_MS, label: 'tsc' });
      assert.equal(tsc.code, 0, show(tsc));

      const lib = await node(join('out', 'library.js'));
      assert.equal(lib.code, 0, show(lib));
      assert.deepEqual(JSON.parse(lib.stdout.trim().split('\n').at(-1)!), { echoed: 'echo?' });

      const msg = await node(join('out', 'messaging.js'), { FULCRUM_SECRET: randomBytes(16).toString('hex') });
      assert.equal(msg.code, 0, show(msg));
      const out = msg.stdout.trim().split('\n');
      // alice's own `console.log(m.from, m.room, m.body)` for the push, the room message and the broadcast
      for (const line of ["undefined undefined { text: 'hello' }", 'undefined news breaking', 'undefined undefined to everyone']) assert.ok(out.includes(line), `${line}\n${msg.stdout}`);
      const summary = JSON.parse(out.at(-1)!) as { bob: { from?: string; body: unknown }[]; kicked: string };
      assert.deepEqual(summary.bob.filter((m) => m.from === 'alice').map((m) => m.body), [{ text: 'hi' }]);
      assert.equal(summary.kicked, 'kicked');
    }));

  it('package - without the patched addon the installed library refuses to start with FULCRUM_ZK_ADDON_UNPATCHED, and the command it names fixes it', () =>
    withRoot('pack-refuse', async ({ connect, root }) => {
      const chroot = `${connect}${dirname(root)}`;
      const zkDir = dirname((await loadedAddon()).zookeeper);

      // No addon built at all (what `npm install --ignore-scripts` leaves): importing fulcrum fails.
      renameSync(join(zkDir, 'build'), join(zkDir, 'build.off'));
      try {
        const r = await startSession(chroot);
        assert.equal(r.code, 'FULCRUM_ZK_ADDON_UNPATCHED', JSON.stringify(r));
        assert.equal(r.name, 'ZkAddonUnpatchedError');
        assert.match(r.message!, /could not be loaded.*npm rebuild zookeeper fulcrum/s);
      } finally {
        renameSync(join(zkDir, 'build.off'), join(zkDir, 'build'));
      }

      // The 7.3.0 source built as the package's own install step builds it.
      const reverse = await runProcess(process.execPath, [join('node_modules', 'patch-package', 'index.js'), '--reverse', '--patch-dir', join('node_modules', 'fulcrum', 'patches')], { cwd: app, env: npmEnv, timeoutMs: APP_TIMEOUT_MS, label: 'patch-package --reverse' });
      assert.equal(reverse.code, 0, show(reverse));
      assert.equal(readFileSync(join(zkDir, 'src', 'node-zk.cpp'), 'utf8').includes(PATCH_MARK), false);
      const gyp = (await npm(['config', 'get', 'node-gyp'], app)).stdout.trim();
      assert.ok(existsSync(gyp), `npm's node-gyp: ${gyp}`);
      const build = await runProcess(process.execPath, [gyp, 'build'], { cwd: zkDir, env: npmEnv, timeoutMs: NPM_TIMEOUT_MS, label: 'node-gyp build' });
      assert.equal(build.code, 0, show(build));
      assert.equal((await loadedAddon()).patched, undefined, 'the unpatched addon is loaded');
      const refused = await startSession(chroot);
      assert.equal(refused.code, 'FULCRUM_ZK_ADDON_UNPATCHED', JSON.stringify(refused));
      assert.match(refused.message!, new RegExp(`was not built from fulcrum's patched source.*${PATCH_MARK}`));

      const fix = await npm(['rebuild', 'zookeeper', 'fulcrum'], app);
      assert.equal(fix.code, 0, show(fix));
      assert.equal((await loadedAddon()).patched, true);
      assert.deepEqual(await startSession(chroot), { started: true });
    }));
});
