import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { FulcrumError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { ClusterServerStats } from '../../server/cluster-server.js';
import type { MessagingServerStats } from '../../messaging/messaging-server.js';
import type { ServerProcessConfig, ServerProcessMessage, ServerProcessRequest, ServerProcessZkState } from './server-process.js';

export const DEFAULT_SERVER_START_TIMEOUT_MS = 20_000;

const CHILD = fileURLToPath(new URL('./server-process.js', import.meta.url));

export interface RunningServer {
  index: number;
  pid: number;
  ip: string;
  port: number;
  id: string;
  path: string;
  /** The server's messaging gateway port. */
  gatewayPort: number;
  child: ChildProcess;
  /** Where the server serves its Prometheus metrics, when asked to (metricsPortBase). */
  metricsUrl?: string;
}

export interface ServerRunnerOptions extends Omit<ServerProcessConfig, 'port' | 'index' | 'metricsPort'> {
  count: number;
  /** Server i listens on portBase + i; 0 picks free ports. @default 0 */
  portBase?: number;
  /** Server i serves Prometheus metrics on host:(metricsPortBase + i)/metrics; 0 picks free ports. @default no metrics */
  metricsPortBase?: number;
  /** Where the runner logs what happens to its server processes (one exiting unasked, say). @default none */
  logger?: Logger;
  /** Receives each line a server process writes on stderr (its log lines); by default they go to this process's stderr. */
  onStderr?: (index: number, line: string) => void;
  /** Messaging secret, passed to the children in the environment (FULCRUM_SECRET), never on their command line. */
  secret?: string;
  /** Node flags for the server processes. @default this process's execArgv plus DEFAULT_SERVER_NODE_FLAGS */
  execArgv?: string[];
}

/**
 * A server holding many idle connections allocates in bursts (connects, logins) and keeps little
 * of it. V8's young generation then grows to 16 MB semi-spaces, which at 17,000 connections per
 * process was a third of the RSS (bench: 3.8 KB per connection above idle by default, 2.4 KB
 * with the cap). What a login storm promotes and drops (route shards re-encoded and re-read,
 * frames, promises) stays in the old generation and in array buffers until the next full GC,
 * which an idle server does not run: --optimize-for-size makes V8 collect at a smaller heap
 * growth (bench --only memory: 4.4–6.3 KB per idle logged-in user at 10,000 without it, 2.6–2.9 KB with
 * it; about 5 % more server CPU per login).
 */
export const DEFAULT_SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

export class ServerStartError extends FulcrumError {
  constructor(message: string, code = 'FULCRUM_SERVER_START') {
    super(code, message);
  }
}

/** Spins up N ClusterServers, each in its own OS process so one can be killed or paused alone. */
export class ServerRunner {
  readonly servers: RunningServer[] = [];
  private reqId = 0;
  private readonly paused = new Set<number>();
  /** Every child forked and not yet exited, including ones still starting. */
  private readonly children = new Set<ChildProcess>();
  /** Children this runner asked to exit (so their exit is no surprise worth a log line). */
  private readonly stopping = new WeakSet<ChildProcess>();

  constructor(private readonly options: ServerRunnerOptions) {}

  async start(): Promise<RunningServer[]> {
    try {
      await Promise.all(Array.from({ length: this.options.count }, (_, i) => this.add(i)));
    } catch (e) {
      // Siblings may still be starting: stop them too, or they would register after we gave up.
      await Promise.all([...this.children].map((child) => this.exitChild(child, () => child.kill('SIGTERM'))));
      throw e;
    }
    this.servers.sort((a, b) => a.index - b.index);
    return this.servers;
  }

  /** Starts one more server (e.g. scale-out); resolves once it is registered. */
  async add(index = this.servers.length): Promise<RunningServer> {
    const base = this.options.portBase ?? 0;
    const { count: _count, portBase: _portBase, metricsPortBase, logger: _logger, onStderr, digest, secret, execArgv, ...rest } = this.options;
    const metricsPort = metricsPortBase === undefined ? undefined : metricsPortBase === 0 ? 0 : metricsPortBase + index;
    const cfg: ServerProcessConfig = { ...rest, index, port: base === 0 ? 0 : base + index, ...(metricsPort === undefined ? {} : { metricsPort }) };
    // The config travels on the child's command line (visible in ps); the secret goes by environment.
    const env = { ...process.env };
    delete env.FULCRUM_DIGEST;
    if (digest) env.FULCRUM_DIGEST = digest;
    delete env.FULCRUM_SECRET;
    if (secret) env.FULCRUM_SECRET = secret;
    const child = fork(CHILD, [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', onStderr ? 'pipe' : 'inherit', 'ipc'], env, execArgv: execArgv ?? [...process.execArgv, ...DEFAULT_SERVER_NODE_FLAGS] });
    if (onStderr && child.stderr) createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => onStderr(index, line));
    this.children.add(child);
    child.once('exit', (code, signal) => {
      this.children.delete(child);
      if (!this.stopping.has(child) && this.servers.some((s) => s.child === child)) {
        this.options.logger?.warn({ server: index, pid: child.pid, exitCode: code, signal }, `server ${index} exited unasked`);
      }
    });
    const ready = await new Promise<ServerProcessMessage & { type: 'ready' }>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new ServerStartError(`server ${index} did not register within ${DEFAULT_SERVER_START_TIMEOUT_MS} ms`));
      }, DEFAULT_SERVER_START_TIMEOUT_MS);
      child.on('message', (m: ServerProcessMessage) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m);
        } else if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new ServerStartError(`server ${index}: ${m.message}`, m.code));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new ServerStartError(`server ${index} exited with code ${code} before registering`));
      });
    });
    const s: RunningServer = { index, pid: ready.pid, ip: ready.ip, port: ready.port, id: ready.id, path: ready.path, gatewayPort: ready.gatewayPort, child, ...(ready.metricsUrl ? { metricsUrl: ready.metricsUrl } : {}) };
    this.options.logger?.debug({ server: index, pid: s.pid, address: `${s.ip}:${s.port}`, node: s.path }, `server ${index} registered`);
    this.servers.push(s);
    return s;
  }

  /** Sends a signal to one server process (SIGKILL to crash it, SIGSTOP/SIGCONT to pause it). */
  signal(index: number, sig: NodeJS.Signals): void {
    if (sig === 'SIGSTOP') this.paused.add(index);
    if (sig === 'SIGCONT') this.paused.delete(index);
    const child = this.servers.find((s) => s.index === index)?.child;
    if (child && sig !== 'SIGSTOP' && sig !== 'SIGCONT') this.stopping.add(child);
    child?.kill(sig);
  }

  /** Asks a server process for its live socket count, write stats and memory (process.memoryUsage()). */
  stats(index: number): Promise<{ stats: ClusterServerStats & MessagingServerStats; live: number; registered: boolean; zk: ServerProcessZkState; memory: NodeJS.MemoryUsage }> {
    const s = this.servers.find((x) => x.index === index);
    if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return Promise.reject(new ServerStartError(`server ${index} is not running`));
    const reqId = ++this.reqId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.child.off('message', on);
        reject(new ServerStartError(`server ${index} did not answer a stats request`));
      }, 5_000);
      const on = (m: ServerProcessMessage) => {
        if (m.type === 'stats' && m.reqId === reqId) {
          clearTimeout(timer);
          s.child.off('message', on);
          resolve(m);
        }
      };
      s.child.on('message', on);
      s.child.send({ type: 'stats', reqId } satisfies ServerProcessRequest);
    });
  }

  /** Gracefully closes one server (node first, then its sockets) and waits for the process to exit. */
  async close(index: number, drainMs?: number): Promise<void> {
    const s = this.servers.find((x) => x.index === index);
    if (!s) return;
    await this.exit(s, () => s.child.send({ type: 'close', drainMs } satisfies ServerProcessRequest));
  }

  private exit(s: RunningServer, ask: () => void): Promise<void> {
    return this.exitChild(s.child, ask);
  }

  private async exitChild(child: ChildProcess, ask: () => void): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    this.stopping.add(child);
    const exited = once(child, 'exit');
    try {
      ask();
    } catch {
      child.kill('SIGTERM');
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every server cleanly (SIGTERM: node first, then sockets). */
  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map((s) => {
        if (this.paused.delete(s.index)) s.child.kill('SIGCONT');
        return this.exit(s, () => s.child.kill('SIGTERM'));
      }),
    );
  }
}
