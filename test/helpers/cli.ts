import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type CliCommand = 'zk' | 'servers' | 'clients' | 'watch' | 'demo';
/** Every command under src/tools/cli. */
export type AnyCliCommand = CliCommand | 'alloc' | 'loadtest' | 'push' | 'redis' | 'soak';

export const DEFAULT_CLI_TIMEOUT_MS = 20_000;

export interface CliResult {
  /** Exit code; null when the process was killed by a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** True when the helper had to SIGKILL the process because it ran past its timeout. */
  timedOut: boolean;
}

export interface CliOptions {
  /** SIGKILL the process after this long. @default DEFAULT_CLI_TIMEOUT_MS */
  timeoutMs?: number;
  /** Extra environment; FULCRUM_ZK and FULCRUM_ROOT are removed unless given here. */
  env?: Record<string, string | undefined>;
}

/** A spawned CLI command that may still be running. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches `re`; rejects if the process exits first or the time runs out. */
  waitForStdout(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited (or was killed at its timeout). */
  readonly exited: Promise<CliResult>;
  /** Sends a signal if the process is still running. */
  kill(signal?: NodeJS.Signals): void;
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FULCRUM_ZK;
  delete env.FULCRUM_ROOT;
  delete env.FULCRUM_DEBUG;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts `node dist/src/tools/cli/<cmd>.js args…` from the repository root. */
export function startCli(cmd: AnyCliCommand, args: string[], opts: CliOptions = {}): CliProcess {
  return startProcess(process.execPath, [join('dist', 'src', 'tools', 'cli', `${cmd}.js`), ...args], { ...opts, cwd: REPO_ROOT, label: cmd });
}

/** Starts any program (`npm`, `node script.js`, …) with the same capture, timeout and environment rules as startCli. */
export function startProcess(file: string, args: string[], opts: CliOptions & { cwd: string; label?: string }): CliProcess {
  const cmd = opts.label ?? [file, ...args].join(' ');
  const t0 = Date.now();
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${cmd}`);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (const w of [...waiters]) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const waiters = new Set<() => void>();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? DEFAULT_CLI_TIMEOUT_MS);
  let done = false;
  // 'close' (not 'exit') so every byte of stdout/stderr has arrived.
  const exited = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done = true;
      for (const w of [...waiters]) w();
      resolve({ code, signal, stdout: out, stderr: err, ms: Date.now() - t0, timedOut });
    });
  });
  return {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForStdout(re, timeoutMs = DEFAULT_CLI_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            finish();
            resolve(m);
          } else if (done) {
            finish();
            reject(new Error(`${cmd} exited before printing ${re}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        const t = setTimeout(() => {
          finish();
          reject(new Error(`${cmd} did not print ${re} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(t);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs a CLI command to completion (killed at the timeout) and returns its exit status and output. */
export function runCliCommand(cmd: AnyCliCommand, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(cmd, args, opts).exited;
}

/** Runs any program to completion (killed at the timeout); see startProcess. */
export function runProcess(file: string, args: string[], opts: CliOptions & { cwd: string; label?: string }): Promise<CliResult> {
  return startProcess(file, args, opts).exited;
}

/** Exit code 2 and exactly one line on stderr (bad input), matching `stderrPattern` when given. */
export function assertUsageExit(r: CliResult, label: string, stderrPattern?: RegExp): void {
  const detail = `${label}\ncode ${r.code} signal ${r.signal} timedOut ${r.timedOut}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.timedOut, false, `timed out: ${detail}`);
  assert.equal(r.code, 2, `exit code: ${detail}`);
  assert.equal(lines(r.stderr).length, 1, `one stderr line: ${detail}`);
  assert.ok(r.stderr.endsWith('\n'), `stderr ends with a newline: ${detail}`);
  if (stderrPattern) assert.match(r.stderr, stderrPattern, detail);
}

/** Non-empty lines of a captured stream. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}

/** Pids of live processes whose command line contains `marker` (e.g. a unique --root). */
export function pidsWithArg(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) pids.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

export { pidAlive } from '../../src/tools/local-zookeeper.js';

/** SIGKILLs the given pids that are still alive (processes a test started, directly or via a runner). */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
