import { connectZk } from '../src/zk/connect.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import { runConnectRate } from './connect-rate.js';
const zk = process.env.FULCRUM_ZK!;
const root = `/fulcrum-bench/${process.pid}/servers`;
const admin = await connectZk({ connect: zk });
await mkdirp(admin, root);
try {
  console.log(await runConnectRate({ zk, root, verbose: true, until: (process.env.UNTIL as 'pong') ?? 'pong' }));
} finally {
  await deleteTree(admin, `/fulcrum-bench/${process.pid}`);
  admin.close();
}
