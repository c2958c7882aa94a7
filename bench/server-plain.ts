// The baseline in its own process: a plain net.Server with fulcrum's default ping handler, or a
// ClusterServer with the same handler.
import net from 'node:net';
import { once } from 'node:events';
import { serveRequests } from './child-ipc.js';
import { ClusterServer } from '../src/server/cluster-server.js';
import { pingHandler } from '../src/server/ping-handler.js';
import { MessagingServer } from '../src/messaging/messaging-server.js';

let server: net.Server | ClusterServer | MessagingServer | undefined;
const noop = () => {};
const onPing = pingHandler({ id: 'plain' });

serveRequests({
  /** kind 'plain': net.Server; 'fulcrum': ClusterServer registered under `root` (balance updates on); 'messaging': MessagingServer there. */
  async listen(m) {
    if (m.kind === 'plain') {
      const s = net.createServer((c) => {
        c.on('error', noop);
        c.setNoDelay(true);
        onPing(c);
      });
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      server = s;
      return (s.address() as net.AddressInfo).port;
    }
    if (m.kind === 'messaging') {
      const ms = new MessagingServer({ zk: m.zk as string, root: m.root as string });
      server = ms;
      return (await ms.listen()).port;
    }
    const c = new ClusterServer({ zk: m.zk as string, root: m.root as string });
    server = c;
    return (await c.listen()).port;
  },
  /** Sockets the plain net.Server holds now. */
  async connections() {
    if (!(server instanceof net.Server)) return undefined;
    const s = server;
    return new Promise<number>((resolve, reject) => s.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  },
  async stats() {
    if (server instanceof ClusterServer) {
      await server.flushed();
      return server.stats;
    }
    return undefined;
  },
  async close() {
    if (server instanceof ClusterServer || server instanceof MessagingServer) await server.close();
    else server?.close();
    return true;
  },
});
