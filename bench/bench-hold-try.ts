import { connectZk } from '../src/zk/connect.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import { runHold } from './hold-100k.js';
const zk = process.env.FULCRUM_ZK!;
const root = `/fulcrum-bench/${process.pid}/servers`;
const admin = await connectZk({ connect: zk });
await mkdirp(admin, root);
try {
  console.log(JSON.stringify(await runHold({ zk, root, admin, total: Number(process.env.N ?? 10000), log: console.log }), null, 1));
} finally {
  await deleteTree(admin, `/fulcrum-bench/${process.pid}`);
  admin.close();
}
