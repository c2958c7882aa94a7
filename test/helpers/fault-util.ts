import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { encodeFrame, FrameDecoder, isPong } from '../../src/protocol/frames.js';
import { decodeServerData, type ServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { zkCodeOf } from '../../src/zk/zk-client.js';

/** The parts of a znode stat the fault tests look at. */
export interface FaultStat {
  ephemeralOwner: string;
  version: number;
  aversion: number;
}

/** The node's stat, or undefined when it does not exist (other errors throw). */
export async function statOf(zk: ZooKeeper, path: string): Promise<FaultStat | undefined> {
  try {
    const s = (await zk.exists(path, false)) as { ephemeralOwner: unknown; version: number; aversion: number };
    return { ephemeralOwner: String(s.ephemeralOwner), version: s.version, aversion: s.aversion };
  } catch (e) {
    if (zkCodeOf(e) === C.ZNONODE) return undefined;
    throw e;
  }
}

/** The node's decoded ServerData, or undefined when it does not exist or does not decode. */
export async function dataOf(zk: ZooKeeper, path: string): Promise<ServerData | undefined> {
  try {
    const [, buf] = (await zk.get(path, false)) as [unknown, Buffer];
    return decodeServerData(buf);
  } catch {
    return undefined;
  }
}

/** Sends one ping on an open socket and resolves with the pong's server id (rejects after timeoutMs). */
export function ping(sock: net.Socket, seq: number, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    const done = (err?: Error, id?: string) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(id!);
    };
    const onData = (b: Buffer) => {
      try {
        for (const m of dec.push(b)) if (isPong(m) && m.seq === seq) done(undefined, m.id);
      } catch (e) {
        done(e as Error);
      }
    };
    const onClose = () => done(new Error(`socket closed before pong ${seq}`));
    const timer = setTimeout(() => done(new Error(`no pong ${seq} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(encodeFrame({ type: 'ping', seq }));
  });
}

/** Resolves with the exit code/signal of a child process (at once when it already exited). */
export async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

/** Polls `fn` every `everyMs` until it is true and returns the time (epoch ms) it first was; undefined on timeout. */
export async function whenTrue(fn: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return Date.now();
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Prints a measured number in a form that is easy to grep from test output. */
export function measured(label: string, value: number | string, unit = 'ms'): void {
  console.log(`# measured ${label}: ${value}${typeof value === 'number' ? ` ${unit}` : ''}`);
}
