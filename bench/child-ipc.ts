// Request/response over IPC to a bench child (driver or server helper) started with raised fd limits.
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChildWorker } from '../src/tools/child-ipc.js';

export { DEFAULT_CHILD_REPLY_TIMEOUT_MS, serveRequests } from '../src/tools/child-ipc.js';

/** A bench child (driver or server helper): a module of bench/ with a large heap, inheriting the raised fd limits. */
export class BenchChild extends ChildWorker {
  /** `execArgv`: the child's Node flags. @default ['--max-old-space-size=4096'] (drivers hold many sockets) */
  constructor(module: string, args: string[] = [], opts: { execArgv?: string[] } = {}) {
    super(fileURLToPath(new URL(module, import.meta.url)), args, { execArgv: opts.execArgv ?? ['--max-old-space-size=4096'] });
  }
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
