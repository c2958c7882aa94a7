// What every local server the tools run from the project directory (ZooKeeper, Redis) and the
// bench's HAProxy share: Debian's package installed when missing, a detached process with a pid
// file, stopping by pid, waiting, and a raw question over loopback TCP.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';

/**
 * Installs Debian's `pkg` when `file` (its binary or jar) is missing; needs root, as CI is.
 * `fail` builds the caller's error, so each launcher keeps its own stable code.
 */
export function ensureDebianPackage(
  file: string,
  pkg: string,
  fail: (message: string, cause?: unknown) => Error,
  opts: { log?: (s: string) => void; recommends?: boolean } = {},
): void {
  if (existsSync(file)) return;
  if (process.getuid?.() !== 0) throw fail(`${file} is missing; run as root or: apt-get install -y ${pkg}`);
  opts.log?.(`installing ${pkg} (apt-get)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...(opts.recommends === false ? ['--no-install-recommends'] : []), pkg], { stdio: 'ignore', env });
  } catch (cause) {
    throw fail(`apt-get install ${pkg} failed`, cause);
  }
  if (!existsSync(file)) throw fail(`apt-get finished but ${file} is still missing`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid recorded in `file`, or undefined when there is none. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid in `file` when that process is alive and its command line contains `marker`: a pid
 * file left from an earlier boot may name an unrelated process now, which must never be signalled.
 */
export function livePidFromFile(file: string, marker: string): number | undefined {
  const pid = readPidFile(file);
  if (pid === undefined || !pidAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a process by pid (`signal`, then SIGKILL after `timeoutMs`) and waits for it to be gone. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface DetachedProcess {
  pid: number;
  /** Resolves with the exit code if the process exits while this process still runs. */
  exited: Promise<number | null>;
}

/**
 * Starts `cmd` detached (it outlives this process), stdout and stderr appended to `logFile`, and
 * records its pid in `pidFile`.
 */
export function spawnDetached(cmd: string, args: string[], opts: { cwd: string; logFile: string; pidFile: string }, fail: (message: string) => Error): DetachedProcess {
  mkdirSync(opts.cwd, { recursive: true });
  mkdirSync(dirname(opts.pidFile), { recursive: true });
  const log = openSync(opts.logFile, 'a');
  const child = spawn(cmd, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  if (!child.pid) throw fail(`could not spawn ${cmd}`);
  writeFileSync(opts.pidFile, `${child.pid}\n`);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  exited.catch(() => {});
  return { pid: child.pid, exited };
}

/** Polls `check` every `intervalMs` until it holds; false when `timeoutMs` passed first. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Writes `payload` to host:port and resolves with what came back once `complete(reply)` holds or
 * the peer closed; undefined when nothing connects or answers in time.
 */
export function askTcp(port: number, host: string, payload: string, opts: { timeoutMs?: number; complete?: (reply: string) => boolean } = {}): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    let out = '';
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), opts.timeoutMs ?? 1_000);
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (b) => {
      out += b.toString();
      if (opts.complete?.(out)) done(out);
    });
    sock.on('end', () => done(out));
    sock.on('error', () => done(undefined));
  });
}

/** Whether something accepts TCP connections on host:port. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A free loopback port (the kernel picks it; the caller binds it right after). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
