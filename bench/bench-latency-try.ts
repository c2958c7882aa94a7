import { ServerRunner } from '../src/runner/server-runner.js';
import { connectZk } from '../src/zk/connect.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import { Haproxy } from './haproxy.js';
import { runLatency } from './latency.js';
import { raiseFdLimit } from './child-ipc.js';
console.log('fd limit', raiseFdLimit());
const zk = process.env.FULCRUM_ZK!;
const root = `/fulcrum-bench/${process.pid}/servers`;
const admin = await connectZk({ connect: zk });
await mkdirp(admin, root);
const runner = new ServerRunner({ count: 5, zk, root, host: '127.0.0.1', noDelay: process.env.NODELAY !== '0' });
const servers = await runner.start();
const hp = new Haproxy({ backends: servers.map((s) => ({ host: '127.0.0.1', port: s.port })) });
const port = await hp.start();
try {
  const rows = await runLatency({ zk, root, haproxyPort: port, verbose: !!process.env.V, directTarget: process.env.LIST ? { kind: 'list', addresses: servers.map((s) => ({ host: '127.0.0.1', port: s.port })) } : undefined, levels: (process.env.LEVELS ?? '50,500').split(',').map(Number) });
  for (const r of rows) console.log(r.label, JSON.stringify(r.direct), JSON.stringify(r.proxy));
} finally {
  await hp.stop();
  await runner.stop();
  await deleteTree(admin, `/fulcrum-bench/${process.pid}`);
  admin.close();
}
