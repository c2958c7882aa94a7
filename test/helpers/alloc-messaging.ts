import type ZooKeeper from 'zookeeper';
import { AllocService, type AllocServiceOptions } from '../../src/alloc/alloc-service.js';
import type { MessagingServer, MessagingServerOptions } from '../../src/messaging/messaging-server.js';
import { ZkSession } from '../../src/zk/session.js';
import { closeMessaging, startMessagingServers } from './messaging.js';
import { eventually } from './eventually.js';
import { freshRoot, rawZk, testZk } from './zk.js';

/** An alloc service and N MessagingServers (in this process, port 0) on a fresh root of the test ZooKeeper. */
export interface MessagingAllocFixture {
  connect: string;
  raw: ZooKeeper;
  root: string;
  session: ZkSession;
  service: AllocService;
  /** Base URL with a trailing slash. */
  url: string;
  servers: MessagingServer[];
  close(): Promise<void>;
}

export async function startMessagingAlloc(opts: { servers: number; label: string; secret?: string; service?: Partial<AllocServiceOptions>; server?: Partial<MessagingServerOptions> }): Promise<MessagingAllocFixture> {
  const connect = await testZk();
  const raw = await rawZk(connect);
  const { root, cleanup } = await freshRoot(raw, opts.label);
  const session = new ZkSession({ connect, sessionTimeoutMs: 4_000, connectTimeoutMs: 10_000 });
  const service = new AllocService({ session, root, port: 0, defaultMetrics: false, secret: opts.secret, ...opts.service });
  let servers: MessagingServer[] = [];
  const close = async () => {
    await service.close().catch(() => {});
    await closeMessaging(servers);
    session.close();
    await cleanup().catch(() => {});
    raw.close();
  };
  try {
    const { url } = await service.start();
    servers = await startMessagingServers(opts.servers, { ...opts.server, zk: connect, root, sessionTimeoutMs: 4_000, secret: opts.secret });
    const names = servers.map((s) => s.id);
    // Fan-outs go to the servers the service knows: wait until it knows them all.
    if (!(await eventually(() => names.every((n) => service.push.servers.get(n) !== undefined)))) {
      throw new Error('the alloc service did not see the messaging servers');
    }
    return { connect, raw, root, session, service, url, servers, close };
  } catch (e) {
    await close();
    throw e;
  }
}
