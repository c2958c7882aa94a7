import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';

/** Resolves with the exit code/signal of a child process (at once when it already exited). */
export async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

/** Prints a measured number in a form that is easy to grep from test output. */
export function measured(label: string, value: number | string, unit = 'ms'): void {
  console.log(`# measured ${label}: ${value}${typeof value === 'number' ? ` ${unit}` : ''}`);
}
