// Hold driver in its own process: opens many connections (each proven by a ping/pong) and keeps
// them until told to close. fulcrum: ClusterClient picks by the least strategy from a watched
// ServerCache (live balances plus its own pending picks), as an application would; proxy:
// round-robin over HAProxy instances.
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BalanceProvider } from '../src/balancing/balance-provider.js';
import { ClusterClient } from '../src/client/cluster-client.js';
import { CLIENT_MIN_READ_INTERVAL_MS, ServerCache } from '../src/discovery/server-cache.js';
import { encodeFrame, FrameDecoder, isPong } from '../src/protocol/frames.js';
import { ZkSession } from '../src/zk/session.js';
import { serveRequests } from './child-ipc.js';

type Target = { kind: 'fulcrum'; zk: string; root: string } | { kind: 'proxy'; ports: number[] };

let target: Target | undefined;
let session: ZkSession | undefined;
let cache: ServerCache | undefined;
let provider: BalanceProvider | undefined;
const held: Socket[] = [];
let next = 0;
const PING = encodeFrame({ type: 'ping', seq: 1 });

function openProxy(port: number, localAddress: string | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress, noDelay: true }); // as ClusterClient does
    const dec = new FrameDecoder();
    const timer = setTimeout(() => s.destroy(new Error(`no pong through :${port} within 30 s`)), 30_000);
    const fail = (e?: Error) => {
      clearTimeout(timer);
      reject(e ?? new Error(`:${port} closed the connection before its pong`));
    };
    s.once('error', fail);
    s.once('close', () => fail());
    s.once('connect', () => s.write(PING));
    const onData = (chunk: Buffer) => {
      if (!dec.push(chunk).some(isPong)) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.removeAllListeners('error').removeAllListeners('close');
      s.on('error', () => {});
      resolve(s);
    };
    s.on('data', onData);
  });
}

async function openOne(localAddress: string | undefined): Promise<Socket> {
  if (target!.kind === 'proxy') return openProxy(target!.ports[next++ % target!.ports.length]!, localAddress);
  const client = new ClusterClient({ provider: provider!, reconnect: false, connectTimeoutMs: 30_000 });
  return client.connect();
}

serveRequests({
  async init(m) {
    target = m.target as Target;
    if (target.kind === 'fulcrum') {
      session = new ZkSession({ connect: target.zk });
      cache = new ServerCache({ session, root: target.root, minReadIntervalMs: CLIENT_MIN_READ_INTERVAL_MS });
      await cache.start();
      provider = new BalanceProvider({ source: cache, strategy: 'least', root: target.root });
    }
    return process.pid;
  },
  /** Opens `n` more connections with `concurrency` in flight; resolves with the time it took and how many of them are held. */
  async open(m) {
    const n = m.n as number;
    const localAddress = m.localAddress as string | undefined;
    let started = 0;
    let failed = 0;
    let firstError: string | undefined;
    const before = held.length;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: m.concurrency as number }, async () => {
        while (started < n) {
          started++;
          try {
            held.push(await openOne(localAddress));
          } catch (e) {
            failed++;
            firstError ??= (e as Error).message;
          }
        }
      }),
    );
    return { ms: performance.now() - t0, held: held.length - before, failed, firstError };
  },
  closeAll() {
    for (const s of held.splice(0)) s.resetAndDestroy(); // RST: no TIME_WAIT left to crowd the next phase's ports
    return true;
  },
});
