// Run by `npm install` / `npm ci` (postinstall): applies patches/ with patch-package, then rebuilds
// the `zookeeper` addon if its binary was built from the unpatched source. See
// docs/zookeeper-addon-fd-patch.md. Plain JavaScript: it runs before `tsc` has built anything.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** A name that only the patched node-zk.cpp contains; it survives into the compiled addon as a symbol. */
const MARKER = 'releaseStalePoll';

const require = createRequire(join(ROOT, 'package.json'));

function fail(message) {
  console.error(`patch-zookeeper: ${message}`);
  process.exit(1);
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (r.error) fail(`${command}: ${r.error.message}`);
  if (r.status !== 0) fail(`${[command, ...args].join(' ')} exited with ${r.status ?? r.signal}`);
}

const holdsMarker = (file) => existsSync(file) && readFileSync(file).includes(MARKER);

// Without --error-on-fail patch-package exits 0 on a patch that no longer applies (outside CI).
run(process.execPath, [require.resolve('patch-package/index.js'), '--error-on-fail'], ROOT);

const zkDir = dirname(require.resolve('zookeeper/package.json'));
if (!holdsMarker(join(zkDir, 'src', 'node-zk.cpp'))) fail('node_modules/zookeeper/src/node-zk.cpp is not patched');

const addon = join(zkDir, 'build', 'Release', 'zookeeper.node');
if (holdsMarker(addon)) {
  console.log('patch-zookeeper: the zookeeper addon is already built from the patched source');
  process.exit(0);
}

// npm runs install scripts with its bundled node-gyp in npm_config_node_gyp (and on PATH). The
// package's own build step (scripts/build.js) reruns the C client's configure; its make then has
// nothing to compile, so only node-zk.cpp is compiled again.
console.log('patch-zookeeper: rebuilding the zookeeper addon from the patched source');
const gyp = process.env.npm_config_node_gyp;
if (gyp && existsSync(gyp)) run(process.execPath, [gyp, 'rebuild'], zkDir);
else run('node-gyp', ['rebuild'], zkDir);
if (!holdsMarker(addon)) fail(`${addon} was rebuilt but does not hold the patched code`);
console.log('patch-zookeeper: done');
