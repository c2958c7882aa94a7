// The one place that loads the native `zookeeper` package, and the check that the loaded addon is a
// build of the source fulcrum patches on install (docs/zookeeper-addon-fd-patch.md).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type ZooKeeperClass from 'zookeeper';
import { ZkAddonUnpatchedError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Defined (true) on the native class only by patches/zookeeper+7.3.0.patch. */
const PATCH_MARK = 'RELEASES_STALE_POLL';

function addonDir(): string {
  try {
    return dirname(require.resolve('zookeeper/package.json'));
  } catch {
    return 'node_modules/zookeeper (not found)';
  }
}

function load(): typeof ZooKeeperClass {
  try {
    return require('zookeeper') as typeof ZooKeeperClass;
  } catch (e) {
    // Installed with --ignore-scripts (no build on Linux) or built for another Node ABI.
    throw new ZkAddonUnpatchedError(addonDir(), `could not be loaded (${String((e as Error).message).split('\n')[0]})`, { cause: e });
  }
}

/** The `zookeeper` package's client class. */
export const ZooKeeper = load();
export type ZooKeeper = ZooKeeperClass;

/** Throws ZkAddonUnpatchedError unless `zk` runs on the patched addon. Cheap: one property read. */
export function assertPatchedAddon(zk: ZooKeeper): void {
  const native = zk.native as { constructor?: Record<string, unknown> } | undefined;
  if (native?.constructor?.[PATCH_MARK] !== true) {
    throw new ZkAddonUnpatchedError(addonDir(), `was not built from fulcrum's patched source (its native class lacks ${PATCH_MARK})`);
  }
}
