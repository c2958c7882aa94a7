// Route-table driver, in its own process (started with --expose-gc): loads every route shard under
// a routes root into a RouteTable, as every full-view router does, and reports the memory it holds.
import { performance } from 'node:perf_hooks';
import { RouteTable } from '../src/messaging/routes/route-table.js';
import { ZkSession } from '../src/zk/session.js';
import { serveRequests } from './child-ipc.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap plus memory outside it (Buffers): what the table costs the process. */
function held(): { heap: number; external: number } {
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

let session: ZkSession | undefined;
let table: RouteTable | undefined;

serveRequests({
  async load(m) {
    if (!gc) throw new Error('driver-routes needs --expose-gc');
    session = new ZkSession({ connect: m.zk as string });
    await session.startClient();
    const before = held();
    const t0 = performance.now();
    table = new RouteTable({ session, routesRoot: m.routesRoot as string, resyncIntervalMs: 0 });
    await table.start();
    const loadMs = performance.now() - t0;
    const after = held();
    // best() of known users, in the order the bench wrote them.
    const users = m.probe as string[];
    let found = 0;
    const t1 = performance.now();
    for (let r = 0; r < 10; r++) for (const u of users) if (table.best(u)) found++;
    const lookupsPerSec = (10 * users.length) / ((performance.now() - t1) / 1000);
    return { size: table.size, heap: after.heap - before.heap, external: after.external - before.external, loadMs, lookupsPerSec, found: found / 10 };
  },
  close() {
    table?.close();
    session?.close();
    return true;
  },
});
