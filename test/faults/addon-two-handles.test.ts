import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { firstPort } from '../helpers/fault-proxy.js';
import { exitOf } from '../helpers/fault-util.js';
import { testZk } from '../helpers/zk.js';

const PROGRAM = fileURLToPath(new URL('../helpers/two-handles.js', import.meta.url));
/** The unpatched 7.3.0 addon aborted 6 of 6 runs of this sequence (docs/zookeeper-addon-fd-patch.md). */
const RUNS = 3;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

async function runSequence(zkPort: number): Promise<Run> {
  const child = spawn(process.execPath, [PROGRAM, String(zkPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const { code, signal } = await exitOf(child);
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

test('addon - two handles: a handle created in another one\'s connecting callback takes its fd number without aborting', async () => {
  const zkPort = firstPort(await testZk());
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await runSequence(zkPort));
  for (const [i, r] of runs.entries()) {
    const detail = `run ${i + 1}: code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.signal, null, detail);
    assert.equal(r.code, 0, detail);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok?: boolean; tookAsFd?: boolean };
    assert.equal(last.ok, true, detail);
    assert.equal(last.tookAsFd, true, `B got A's old fd number, so the sequence is the one that aborted 7.3.0\n${detail}`);
  }
});
