import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Blackhole, ProxyCommand, ProxyMessage, ProxyRequest } from './fault-proxy-process.js';

/** Control of a TCP fault proxy on loopback, running in a child process (fault-proxy-process.ts). */
export interface FaultProxy {
  /** Point clients at `127.0.0.1:${port}`. */
  readonly port: number;
  /** The proxy's process (its exit tells whether it ended cleanly). */
  readonly child: ChildProcess;
  /** Destroys every live connection: the client sees connection loss and reconnects. */
  cut(): Promise<void>;
  /** true drops both directions, 'down' drops only responses, 'stall' holds both directions (nothing lost), false heals. */
  blackhole(on: Blackhole): Promise<void>;
  close(): Promise<void>;
}

const PROCESS = fileURLToPath(new URL('./fault-proxy-process.js', import.meta.url));

/** Starts a proxy forwarding to 127.0.0.1:zkPort; always close() it. */
export async function startProxy(zkPort: number): Promise<FaultProxy> {
  const child = fork(PROCESS, [String(zkPort)], { stdio: 'inherit' });
  let seq = 0;
  const pending = new Map<number, () => void>();
  const listening = new Promise<number>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`fault proxy exited before listening (code ${code}, signal ${signal})`)));
    child.on('message', (m: ProxyMessage) => {
      if ('port' in m) resolve(m.port);
      else {
        pending.get(m.id)?.();
        pending.delete(m.id);
      }
    });
  });
  const call = (cmd: ProxyCommand) =>
    new Promise<void>((resolve) => {
      const id = ++seq;
      pending.set(id, resolve);
      const req: ProxyRequest = { ...cmd, id };
      child.send(req);
    });
  let closed: Promise<void> | undefined;
  return {
    port: await listening,
    child,
    cut: () => call({ op: 'cut' }),
    blackhole: (on) => call({ op: 'blackhole', arg: on }),
    close() {
      closed ??= child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : Promise.all([once(child, 'exit'), call({ op: 'close' })]).then(() => {});
      return closed;
    },
  };
}

/** The client port of the first member of a connect string (where a proxy forwards to). */
export function firstPort(connect: string): number {
  return Number(connect.split(',')[0]!.split(':')[1]);
}
