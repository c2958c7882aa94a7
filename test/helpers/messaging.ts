import net from 'node:net';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient, type ClusterClientOptions, type ReceivedMessage } from '../../src/client/cluster-client.js';
import type { LoginOptions } from '../../src/client/login.js';
import { makeSnapshot } from '../../src/discovery/snapshot.js';
import { MessagingServer, type MessagingServerOptions } from '../../src/messaging/messaging-server.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frames.js';
import { eventually } from './eventually.js';

export async function startMessagingServers(n: number, opts: Omit<MessagingServerOptions, 'port'>): Promise<MessagingServer[]> {
  const servers = Array.from({ length: n }, () => new MessagingServer({ ...opts, port: 0 }));
  await Promise.all(servers.map((s) => s.listen()));
  return servers;
}

export async function closeMessaging(servers: readonly MessagingServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
}

/** A logged-in ClusterClient that records what it receives. */
export interface TestUser {
  client: ClusterClient;
  messages: ReceivedMessage[];
  kicked: string[];
}

/** A ClusterClient pinned to one server (its only candidate), recording messages and kicks. */
export function userClient(server: MessagingServer, opts: Partial<ClusterClientOptions> = {}): TestUser {
  const { ip, port } = server.endpoint!;
  const source = { snapshot: async () => makeSnapshot([{ name: server.id, ip, port, balance: 0 }], 1) };
  const client = new ClusterClient({ provider: new BalanceProvider({ source }), reconnect: false, ...opts });
  const messages: ReceivedMessage[] = [];
  const kicked: string[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('kicked', (r) => kicked.push(r));
  return { client, messages, kicked };
}

export async function loginOn(server: MessagingServer, login: LoginOptions, opts: Partial<ClusterClientOptions> = {}): Promise<TestUser> {
  const u = userClient(server, opts);
  await u.client.connect(login);
  return u;
}

/** Waits until every given router sees `user` on `server` (or offline when server is undefined). */
export function routeIs(routers: readonly { route(u: string): { server: string } | undefined }[], user: string, server: string | undefined, timeoutMs = 5_000): Promise<boolean> {
  return eventually(() => routers.every((r) => r.route(user)?.server === server), timeoutMs, 5);
}

/** A raw socket speaking frames, recording every frame and whether the server closed it. */
export interface RawPeer {
  socket: net.Socket;
  frames: unknown[];
  closed: Promise<void>;
  send(frame: unknown): void;
  sendRaw(bytes: Buffer): void;
}

export function rawPeer(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const frames: unknown[] = [];
    const decoder = new FrameDecoder(1024 * 1024);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (b: Buffer) => {
      try {
        frames.push(...decoder.push(b));
      } catch {
        socket.destroy();
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.on('error', () => {});
      resolve({ socket, frames, closed, send: (f) => socket.write(encodeFrame(f)), sendRaw: (b) => socket.write(b) });
    });
  });
}
