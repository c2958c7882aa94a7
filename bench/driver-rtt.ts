// Round-trip driver, one per side, in its own process: opens persistent connections (fulcrum:
// ClusterClient picking from a watched cache; proxy: plain connect to HAProxy; list: plain
// connects round-robin), sends each connection's first ping itself, then pings.
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BalanceProvider } from '../src/balancing/balance-provider.js';
import { ClusterClient } from '../src/client/cluster-client.js';
import { CLIENT_MIN_READ_INTERVAL_MS, ServerCache } from '../src/discovery/server-cache.js';
import { encodeFrame, FrameDecoder, isPong } from '../src/protocol/frames.js';
import { ZkSession } from '../src/zk/session.js';
import { serveRequests } from './child-ipc.js';

/**
 * fulcrum: ClusterClient picking from a watched cache; proxy: one address (HAProxy); list: plain
 * connects round-robin over fixed addresses (isolates the client library from the path).
 */
type Target = { kind: 'fulcrum'; zk: string; root: string } | { kind: 'proxy'; host: string; port: number } | { kind: 'list'; addresses: { host: string; port: number }[] };

let target: Target | undefined;
let session: ZkSession | undefined;
let provider: BalanceProvider | undefined;
const conns: Socket[] = [];
let seq = 0;

/** Sends one ping on a connected socket and resolves at its pong. */
function firstPong(s: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    const mySeq = ++seq;
    const onData = (chunk: Buffer) => {
      if (dec.push(chunk).some((m) => isPong(m) && m.seq === mySeq)) {
        s.off('data', onData);
        s.off('error', reject);
        s.on('error', () => {});
        resolve(s);
      }
    };
    s.once('error', reject);
    s.on('data', onData);
    s.write(encodeFrame({ type: 'ping', seq: mySeq }));
  });
}

/** Connect, send one ping, resolve at its pong: the setup a client pays before its first useful answer. */
function openProxy(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true }); // as ClusterClient does
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      firstPong(s).then(resolve, reject);
    });
  });
}

async function openOne(): Promise<{ socket: Socket; ms: number; close: () => void }> {
  const t0 = performance.now();
  if (target!.kind !== 'fulcrum') {
    const a = target!.kind === 'proxy' ? target! : target!.addresses[seq % target!.addresses.length]!;
    const socket = await openProxy(a.host, a.port);
    return { socket, ms: performance.now() - t0, close: () => socket.resetAndDestroy() };
  }
  // ping: false leaves the socket to the driver, which sends the first ping itself as on the other
  // sides (with the default protocol the client would prove the connection with that same ping
  // and then decode every pong a second time beside the driver).
  const client = new ClusterClient({ provider: provider!, reconnect: false, ping: false });
  const socket = await firstPong(await client.connect());
  const ms = performance.now() - t0;
  return { socket, ms, close: () => socket.resetAndDestroy() };
}

/**
 * Paced per connection: a ping every `intervalMs` (random phase), never two in flight. A ping held
 * back by a slow pong is timed from when it was due, so a stall of the path counts in full; any
 * other ping is timed from when it was sent, so the driver's own timer lateness (Node timers
 * fire in whole milliseconds, and late when its loop is busy) does not.
 */
function pingLoop(s: Socket, until: number, intervalMs: number, out: number[]): Promise<void> {
  return new Promise((resolve) => {
    const dec = new FrameDecoder();
    let dueAt = performance.now() + Math.random() * intervalMs;
    let mySeq = 0;
    let startedAt = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      s.off('data', onData);
      resolve();
    };
    const send = (heldBack: boolean) => {
      timer = undefined;
      if (dueAt >= until || s.destroyed) return finish();
      mySeq = ++seq;
      startedAt = heldBack ? dueAt : performance.now();
      s.write(encodeFrame({ type: 'ping', seq: mySeq }));
    };
    const arm = () => {
      const wait = dueAt - performance.now();
      if (wait <= 0) send(true);
      else timer = setTimeout(send, wait, false);
    };
    const onData = (chunk: Buffer) => {
      for (const m of dec.push(chunk)) {
        if (isPong(m) && m.seq === mySeq) {
          out.push(performance.now() - startedAt);
          dueAt += intervalMs;
          arm();
        }
      }
    };
    s.on('data', onData);
    arm();
  });
}

serveRequests({
  async init(m) {
    target = m.target as Target;
    if (target.kind === 'fulcrum') {
      session = new ZkSession({ connect: target.zk });
      const cache = new ServerCache({ session, root: target.root, minReadIntervalMs: CLIENT_MIN_READ_INTERVAL_MS });
      await cache.start();
      provider = new BalanceProvider({ source: cache, strategy: 'least', root: target.root });
    }
    return { pid: process.pid };
  },
  /** Opens `n` persistent connections one at a time; returns each connect → first pong time. */
  async open(m) {
    const ms: number[] = [];
    for (let i = 0; i < (m.n as number); i++) {
      const c = await openOne();
      conns.push(c.socket);
      ms.push(c.ms);
    }
    return ms;
  },
  /** Pings on every open connection for `durationMs`, `rate` pings/s in total; returns every round trip in ms. */
  async ping(m) {
    const out: number[] = [];
    const until = performance.now() + (m.durationMs as number);
    const intervalMs = (1000 * conns.length) / (m.rate as number);
    await Promise.all(conns.map((s) => pingLoop(s, until, intervalMs, out)));
    return out;
  },
  /** `n` fresh connects one after another, each reset right after its first pong. */
  async setup(m) {
    const ms: number[] = [];
    for (let i = 0; i < (m.n as number); i++) {
      const c = await openOne();
      ms.push(c.ms);
      c.close();
    }
    return ms;
  },
  closeAll() {
    for (const s of conns.splice(0)) s.resetAndDestroy();
    return conns.length;
  },
});
