// Run by `npm install` / `npm ci` (postinstall), in this repository and in an application that installed
// fulcrum: applies patches/ with patch-package to the `zookeeper` package that fulcrum resolves (hoisted
// into the application's node_modules or nested under fulcrum's), then rebuilds the addon if its binary
// was built from the unpatched source. See docs/zookeeper-addon-fd-patch.md. Plain JavaScript: it runs
// before `tsc` has built anything, and ships in the package.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * A property name that only the patched node-zk.cpp defines (fulcrum checks it at run time); it is in
 * the source and, as a string, in the compiled addon.
 */
const MARKER = 'RELEASES_STALE_POLL';

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

// The copy fulcrum loads, found the way Node finds it from here (not a fixed node_modules/zookeeper).
const zkDir = dirname(require.resolve('zookeeper/package.json'));
// patch-package only patches <its working directory>/node_modules/<name>, reading patches from a
// directory relative to it: run it from the directory whose node_modules holds that copy.
const base = dirname(dirname(zkDir));
if (!existsSync(join(base, 'package.json')) || realpathSync(join(base, 'node_modules', 'zookeeper')) !== realpathSync(zkDir)) {
  fail(`cannot patch ${zkDir}: it is not in the node_modules of a package directory (install fulcrum with npm)`);
}
// Without --error-on-fail patch-package exits 0 on a patch that no longer applies (outside CI).
run(process.execPath, [require.resolve('patch-package/index.js'), '--error-on-fail', '--patch-dir', relative(base, join(ROOT, 'patches'))], base);
if (!holdsMarker(join(zkDir, 'src', 'node-zk.cpp'))) fail(`${join(zkDir, 'src', 'node-zk.cpp')} is not patched`);

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
