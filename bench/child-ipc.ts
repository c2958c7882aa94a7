// Request/response over IPC to a bench child (driver or server helper) started with raised fd limits.
import { execSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const DEFAULT_CHILD_REPLY_TIMEOUT_MS = 600_000;

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

/** A child process that answers `{ id, cmd, ... }` with `{ id, result | error }`. */
export class BenchChild {
  readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  /** `execArgv`: the child's Node flags. @default ['--max-old-space-size=4096'] (drivers hold many sockets) */
  constructor(module: string, args: string[] = [], opts: { execArgv?: string[] } = {}) {
    const file = fileURLToPath(new URL(module, import.meta.url));
    this.child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: opts.execArgv ?? ['--max-old-space-size=4096'] });
    this.child.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.result);
    });
    this.child.once('exit', (code, sig) => {
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error(`${module} exited (${code ?? sig})`));
      }
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(cmd: string, body: Record<string, unknown> = {}, timeoutMs = DEFAULT_CHILD_REPLY_TIMEOUT_MS): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${cmd}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, cmd, ...body });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }
}

/** The child side: runs `handlers[cmd]` for each request and sends back its result. */
export function serveRequests(handlers: Record<string, (msg: Record<string, unknown>) => Promise<unknown> | unknown>): void {
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const h = handlers[m.cmd];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        return h(m);
      })
      .then(
        (result) => process.send?.({ id: m.id, result }),
        (e: Error) => process.send?.({ id: m.id, error: e.stack ?? String(e) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

/** Raises this process's open-file limit (soft and hard) so children inherit it; needs root to go above the hard limit. */
export function raiseFdLimit(limit = 1_048_576): number {
  // Node has no setrlimit; prlimit(1) changes a running process's limits.
  try {
    execSync(`prlimit --pid ${process.pid} --nofile=${limit}:${limit}`, { stdio: 'ignore' });
  } catch {
    // not root or no prlimit: keep what we have and report it
  }
  return Number(execSync(`prlimit --pid ${process.pid} --nofile --output SOFT --noheadings`).toString().trim());
}
