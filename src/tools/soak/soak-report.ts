import type { SoakReport } from './run-soak.js';

const n = (v: number) => v.toLocaleString('en-US');

/** The report as the lines `npm run soak` prints, ending with PASS or FAIL. */
export function formatSoakReport(r: SoakReport): string[] {
  const f = r.faults;
  const both = (k: keyof SoakReport['faults']) => `${f[k].short + f[k].long}${f[k].long ? ` (${f[k].long} past the session timeout)` : ''}`;
  const notAcked = Object.entries(r.pushes.notAcked).map(([code, count]) => `${code} ${n(count)}`).join(', ') || 'none';
  return [
    `faults: ${both('cut')} cuts, ${both('partition')} partitions, ${both('pause-server')} server pauses, ${both('pause-watcher')} watcher pauses`,
    `watch storm: ${n(r.watch.snapshots)} cache pictures, ${n(r.watch.replaced)} caches (sessions) closed and replaced, ${n(r.watch.errors)} cache errors, ${n(r.cacheRestarts)} caches replaced because their first start failed`,
    `connection churn: ${n(r.churn.connects)} connects, ${n(r.churn.disconnects)} disconnects, ${n(r.churn.failed)} connects failed (servers paused or cut off)`,
    `messaging: ${n(r.pushes.sent)} pushes, ${n(r.pushes.acked)} acked, not acked: ${notAcked}; ${n(r.users.messages)} messages received, ${n(r.users.relogins)} re-logins, ${n(r.users.stopped)} clients stopped${r.users.stopped ? ` (${Object.entries(r.users.stops).map(([why, c]) => `${why} ${c}`).join(', ')})` : ''}`,
    `servers: ${n(r.reregistrations)} re-registrations after a lost session, ${n(r.serverErrorLines)} error log lines`,
    ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    `soak ${r.passed ? 'PASS' : 'FAIL'} (${n(r.seconds)} s)`,
  ];
}
