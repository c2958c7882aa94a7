// Debian's HAProxy on loopback, `balance leastconn` in TCP mode, as the peer a user would pick instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FulcrumError } from '../src/errors.js';
import { canConnect, ensureDebianPackage, freePort } from '../src/tools/local-daemon.js';

export const HAPROXY_BIN = '/usr/sbin/haproxy';
export const DEFAULT_HAPROXY_START_TIMEOUT_MS = 10_000;
/** Fits a 20,000 open-file limit (two descriptors per proxied connection). */
export const DEFAULT_HAPROXY_MAXCONN = 9_900;

export class HaproxyError extends FulcrumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FULCRUM_BENCH_HAPROXY', message, options);
  }
}

/** Installs Debian's haproxy package when the binary is missing (needs root, as CI is). */
export function ensureHaproxyInstalled(log: (s: string) => void = () => {}): void {
  // The package enables a system service; the bench never uses it.
  ensureDebianPackage(HAPROXY_BIN, 'haproxy', (message, cause) => new HaproxyError(message, { cause }), { log, recommends: false });
}

export interface HaproxyOptions {
  backends: { host: string; port: number }[];
  /** Connections HAProxy accepts in total (and per backend); it needs two descriptors for each. @default 9900 */
  maxconn?: number;
}

/** The configuration file text: one TCP frontend on loopback, leastconn over the backends. */
export function haproxyConfig(port: number, opts: HaproxyOptions): string {
  const maxconn = opts.maxconn ?? DEFAULT_HAPROXY_MAXCONN;
  return [
    'global',
    `  maxconn ${maxconn}`,
    '  log stderr format raw local0 err',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    `  maxconn ${maxconn}`,
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  default_backend be',
    'backend be',
    '  balance leastconn',
    ...opts.backends.map((b, i) => `  server s${i} ${b.host}:${b.port} maxconn ${maxconn}`),
    '',
  ].join('\n');
}

/** One foreground HAProxy process with a generated config in a temp dir; never a system service. */
export class Haproxy {
  private proc: ChildProcess | undefined;
  private dir: string | undefined;
  port = 0;

  constructor(private readonly opts: HaproxyOptions) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<number> {
    ensureHaproxyInstalled((s) => console.log(s));
    this.dir = mkdtempSync(join(tmpdir(), 'fulcrum-haproxy-'));
    this.port = await freePort();
    const cfg = join(this.dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(this.port, this.opts));
    // -db: stay in the foreground, no daemon; the child dies with us.
    this.proc = spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = once(this.proc, 'exit').then(([code]) => {
      throw new HaproxyError(`haproxy exited with code ${code} while starting`);
    });
    const deadline = Date.now() + DEFAULT_HAPROXY_START_TIMEOUT_MS;
    for (;;) {
      const up = await Promise.race([exited, canConnect(this.port)]);
      if (up) break;
      if (Date.now() > deadline) throw new HaproxyError(`haproxy did not listen on ${this.port} within ${DEFAULT_HAPROXY_START_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    exited.catch(() => {});
    return this.port;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const done = once(p, 'exit');
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(t);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
