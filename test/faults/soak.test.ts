import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { assertUsageExit, killPids, pidsWithArg, runCliCommand } from '../helpers/cli.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('soak - bad flags exit 2 with one line, before starting anything', async () => {
  const dead = ['--zk', '127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['--minutes', '0'], /--minutes must be an integer between 1 and 1440/],
    [['--minutes', '1.5'], /--minutes/],
    [['--seconds', '5'], /--seconds must be an integer between 10 and 86400/],
    [['--minutes', '1', '--seconds', '30'], /--minutes or --seconds, not both/],
    [['--servers', '0'], /--servers/],
    [['--users', '-1'], /--users/],
    [['--seed', 'x'], /--seed/],
    [['--fault-gap-ms', '10'], /--fault-gap-ms/],
    [['--frobnicate'], /--frobnicate/],
  ];
  await Promise.all(
    cases.map(async ([args, pattern]) => {
      const r = await runCliCommand('soak', [...dead, ...args]);
      assertUsageExit(r, args.join(' '), pattern);
      assert.match(r.stderr, /^soak: /);
    }),
  );
});

/**
 * The short variant of `npm run soak`: 30 s of every fault kind (cuts, partitions and pauses, one
 * of each past the session timeout) under a watch storm, connection churn, re-logins and acked
 * pushes. The soak itself checks exits, balances, caches and deliveries; this checks its verdict.
 */
test('soak - 30 s of ZooKeeper cuts, partitions and pauses under watch storms, churn, logins and pushes: no abort, balances exact, caches true, every acked push received', async () => {
  const { root, cleanup } = await freshRoot(zk, 'soak');
  const args = ['--zk', connect, '--root', root, '--seconds', '30', '--servers', '2', '--watchers', '1', '--caches', '6', '--churners', '1', '--churn-clients', '30', '--users', '30', '--pushes-per-second', '20', '--fault-gap-ms', '800'];
  try {
    const r = await runCliCommand('soak', args, { timeoutMs: 240_000 });
    const detail = `code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-4_000)}`;
    assert.equal(r.timedOut, false, detail);
    assert.equal(r.code, 0, detail);
    assert.match(r.stdout, /^soak PASS \(30 s\)$/m, detail);
    for (const check of ['no aborts', 'balances exact', 'caches tell the truth', 'acked pushes received', 'users back']) assert.match(r.stdout, new RegExp(`^ok +${check}: `, 'm'), `${check}\n${detail}`);
    // "faults: 1 cuts, 2 (1 past the session timeout) partitions, …": every kind ran, and a partition and a server pause outlasted the session timeout.
    const line = /^faults: .*$/m.exec(r.stdout)?.[0] ?? '';
    const ran = (kind: string) => {
      const m = new RegExp(`(\\d+)(?: \\((\\d+) past the session timeout\\))? ${kind}`).exec(line);
      return { all: Number(m?.[1] ?? 0), long: Number(m?.[2] ?? 0) };
    };
    for (const kind of ['cuts', 'partitions', 'server pauses', 'watcher pauses']) assert.ok(ran(kind).all > 0, `${kind} ran\n${detail}`);
    for (const kind of ['partitions', 'server pauses']) assert.ok(ran(kind).long > 0, `${kind} past the session timeout ran\n${detail}`);
    const pushes = /^messaging: ([\d,]+) pushes, ([\d,]+) acked/m.exec(r.stdout);
    assert.ok(pushes && Number(pushes[2]!.replace(/,/g, '')) > 0, `some pushes were acked\n${detail}`);
  } finally {
    killPids(pidsWithArg(root));
    await cleanup();
  }
});
