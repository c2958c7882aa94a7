// The two-handle sequence that aborted the unpatched zookeeper 7.3.0 addon, as a program of its
// own (an abort kills the process, so a test runs it as a child and reads its exit):
//
//   node dist/test/helpers/two-handles.js <zkPort> [zookeeper package dir]
//
// 1. handle A connects through a fault proxy; 2. handle W connects and is closed, so the memory
// of its poll handle is freed for the next allocation of that size; 3. the proxy cuts A, so the C
// client closes A's socket inside zookeeper_process and calls the 'connecting' watcher; 4. in that
// callback a new handle B is created: its init opens a socket, which gets A's old fd number while
// A's poll handle still holds that number in libuv's table. 7.3.0 ignores uv_poll_init's EEXIST
// there and starts an uninitialised handle (often W's freed one): `uv_poll_start: Assertion
// '!uv__is_closing(handle)' failed`, or a segfault. The patched addon closes A's poll handle before
// the callback runs. Exit 0 and a last line `{"ok":true,…}` when all three handles work afterwards.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import type ZooKeeper from 'zookeeper';
import { startProxy } from './fault-proxy.js';

type Handle = ZooKeeper;
type ZooKeeperClass = new (config: object) => Handle;

const TIMEOUT_MS = 15_000;

/** Socket inode → remote port, for loopback TCP connections of this process. */
function remotePorts(): Map<string, number> {
  const ports = new Map<string, number>();
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      ports.set(f[9]!, parseInt(f[2]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** The fd numbers of this process's TCP sockets whose peer port is `port`. */
function fdsTo(port: number): number[] {
  const ports = remotePorts();
  const out: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${name}`));
      if (m && ports.get(m[1]!) === port) out.push(Number(name));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

function step(what: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ step: what, ...extra })}\n`);
}

function open(ZK: ZooKeeperClass, connect: string): Handle {
  const zk = new ZK({ connect, timeout: 4_000, debug_level: 0, host_order_deterministic: true });
  zk.init({});
  return zk;
}

function connected(zk: Handle): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no connect within 15 s')), TIMEOUT_MS);
    zk.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const zkPort = Number(process.argv[2]);
  if (!Number.isInteger(zkPort) || zkPort <= 0 || zkPort > 65_535) {
    process.stderr.write('usage: two-handles.js <zkPort> [zookeeper package dir]\n');
    process.exit(2);
  }
  const require = createRequire(import.meta.url);
  const ZK = require(process.argv[3] ?? 'zookeeper') as ZooKeeperClass;
  const direct = `127.0.0.1:${zkPort}`;
  const proxy = await startProxy(zkPort);
  let a: Handle | undefined;
  let b: Handle | undefined;
  try {
    a = open(ZK, `127.0.0.1:${proxy.port}`);
    await connected(a);
    const [aFd] = fdsTo(proxy.port);
    step('A connected through the proxy', { aFd });

    const w = open(ZK, direct);
    await connected(w);
    w.close();
    await new Promise((r) => setTimeout(r, 50)); // W's poll handle is freed in its close callback
    step('W opened and closed');

    let bFd: number | undefined;
    const aBack = new Promise<void>((resolve, reject) => a!.once('connecting', () => connected(a!).then(resolve, reject)));
    const bConnected = new Promise<void>((resolve, reject) => {
      a!.once('connecting', () => {
        // Inside zookeeper_process of A, right after the C client closed A's socket.
        b = open(ZK, direct);
        bFd = fdsTo(zkPort).find((fd) => fd === aFd);
        connected(b).then(resolve, reject);
      });
    });
    await proxy.cut();
    await bConnected;
    step('B created in A\'s connecting callback', { bFd, tookAsFd: bFd === aFd });
    await aBack;
    const [aRoot, bRoot] = await Promise.all([a.get_children('/', false), b!.get_children('/', false)]);
    process.stdout.write(`${JSON.stringify({ ok: true, aFd, bFd, tookAsFd: bFd === aFd, children: [aRoot.length, bRoot.length] })}\n`);
  } finally {
    b?.close();
    a?.close();
    await proxy.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`two-handles: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
