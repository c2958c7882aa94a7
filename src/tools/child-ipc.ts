// Request/response over IPC with a child process (a bench driver, a soak worker).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export const DEFAULT_CHILD_REPLY_TIMEOUT_MS = 600_000;

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export interface ChildWorkerOptions {
  /** Node flags of the child. @default none */
  execArgv?: string[];
  /** Where the child's stdout and stderr go. @default 'inherit' */
  output?: 'inherit' | 'ignore';
}

/** A child process that answers `{ id, cmd, ... }` with `{ id, result | error }`. */
export class ChildWorker {
  readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** How the child ended: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(file: string, args: string[] = [], options: ChildWorkerOptions = {}) {
    const out = options.output ?? 'inherit';
    this.child = fork(file, args, { stdio: ['ignore', out, out, 'ipc'], execArgv: options.execArgv ?? [] });
    this.child.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.result);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const w of this.waiting.values()) {
          clearTimeout(w.timer);
          w.reject(new Error(`${file} exited (${code ?? signal})`));
        }
        this.waiting.clear();
        resolve({ code, signal });
      });
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

  /** SIGTERM (SIGKILL after 5 s) unless it already exited. */
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
