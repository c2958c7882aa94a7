// Users driver of the peer bench, one per side in its own process: logs users in with each
// side's own client library and acknowledges what they receive. fulcrum: ClusterClient (login
// frame, every message acked automatically), placed by its own picks from the server list read
// once; Socket.IO: socket.io-client over the WebSocket transport only, one connection per user
// (forceNew), users alternating between the two servers, pushes acked through Socket.IO's
// acknowledgement callback. Counts every message and notes when the last one arrived.
import { io, type Socket as IoSocket } from 'socket.io-client';
import type { BalanceProvider } from '../src/balancing/balance-provider.js';
import { ClusterClient } from '../src/client/cluster-client.js';
import { serveRequests } from './child-ipc.js';
import { countReceipt, receiptRequests } from './receipt-window.js';
import { withConcurrency } from './messaging.js';
import { snapshotProvider } from './snapshot-provider.js';

export type UsersTarget = { kind: 'fulcrum'; zk: string; root: string } | { kind: 'socketio'; urls: string[] };

interface User {
  join(room: string): Promise<unknown>;
  close(): void;
}

let target: UsersTarget | undefined;
let provider: BalanceProvider | undefined;
const users: (User | undefined)[] = [];

async function openFulcrum(user: string): Promise<User> {
  const c = new ClusterClient({ provider: provider!, reconnect: false, connectTimeoutMs: 30_000 });
  c.on('message', countReceipt);
  await c.connect({ user });
  return { join: (room) => c.join(room), close: () => void c.disconnect() };
}

function openSocketIo(url: string, user: string): Promise<User> {
  const s: IoSocket = io(url, { transports: ['websocket'], auth: { user }, reconnection: false, forceNew: true, timeout: 30_000 });
  s.on('push', (_body: unknown, ack: () => void) => {
    countReceipt();
    ack();
  });
  s.on('msg', countReceipt);
  return new Promise((resolve, reject) => {
    s.once('connect', () => {
      s.off('connect_error', reject);
      resolve({ join: (room) => s.timeout(30_000).emitWithAck('join', room), close: () => s.disconnect() });
    });
    s.once('connect_error', reject);
  });
}

serveRequests({
  ...receiptRequests,
  async init(m) {
    target = m.target as UsersTarget;
    if (target.kind === 'fulcrum') provider = await snapshotProvider(target.zk, target.root);
    return process.pid;
  },
  /** Logs in users u<from> … u<from+n-1>, `concurrency` at a time; fails on the first that could not. */
  async login(m) {
    const from = m.from as number;
    const ids = Array.from({ length: m.n as number }, (_, i) => from + i);
    const t = target!;
    await withConcurrency(ids, (m.concurrency as number | undefined) ?? 100, async (i) => {
      users[i] = t.kind === 'fulcrum' ? await openFulcrum(`u${i}`) : await openSocketIo(t.urls[i % t.urls.length]!, `u${i}`);
    });
    return users.filter(Boolean).length;
  },
  /** Users u<from> … u<from+n-1> join `room`; resolves once every server has taken it in. */
  async join(m) {
    const from = m.from as number;
    const ids = Array.from({ length: m.n as number }, (_, i) => from + i);
    await withConcurrency(ids, 200, async (i) => void (await users[i]!.join(m.room as string)));
    return ids.length;
  },
  /** Closes the connections of users u<from> and above. */
  closeFrom(m) {
    const from = m.from as number;
    for (let i = from; i < users.length; i++) users[i]?.close();
    users.length = Math.min(users.length, from);
    return users.length;
  },
});
