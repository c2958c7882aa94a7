// npm run bench: side-by-side measurements in one run (never timed assertions in tests).
//   npm run bench                      everything at the default levels (a few minutes)
//   npm run bench -- --hold 100000     the hold benchmark at 100,000 connections (default 10,000)
//   npm run bench -- --hold-servers 6  over 6 server processes instead of 5
//   npm run bench -- --model           only the ZooKeeper load model (simulation) and its SVG plot
//   npm run bench -- --only hold       one part: latency, connect, writes, hold, model, messaging, http-push, ws, peer, routes, history, fanout or memory
//   npm run bench -- --only memory --memory-users 10000,50000   bytes per idle logged-in user at these levels (the default)
//   npm run bench -- --peer-users 2000 the messaging peer (Socket.IO + Redis adapter) with 2,000 users per side (default 10,000)
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CLIENT_MIN_READ_INTERVAL_MS } from '../src/discovery/server-cache.js';
import { DEFAULT_SERVER_NODE_FLAGS, ServerRunner } from '../src/tools/runner/server-runner.js';
import { connectZk } from '../src/zk/connect.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { DEFAULT_ZK_CONNECT } from '../src/zk/connect-string.js';
import { ensureZk } from '../src/tools/local-zookeeper.js';
import { messagingBench } from './messaging.js';
import { printWsBench, runWsBench } from './ws.js';
import { httpPushBench } from './http-push.js';
import { historyBench, type HistoryBenchResult } from './history.js';
import { DEFAULT_MEMORY_LEVELS, EMBEDDED_USER_BYTES_TARGET, runMemory, USER_BYTES_TARGET, type MemoryResult } from './memory.js';
import { BROADCASTS, CPU_USERS, E2E_USERS, FANOUT_TARGET, runFanout, type FanoutResult } from './fanout.js';
import { DEFAULT_PEER_USERS, RECEIPT_TIMEOUT_MS, runPeer, type PeerResult } from './peer.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import { BenchChild, raiseFdLimit } from './child-ipc.js';
import { runConnectRate } from './connect-rate.js';
import { runHold, type HoldResult } from './hold-100k.js';
import { runLatency, withHaproxy, type LatencyRow } from './latency.js';
import { runLatencyBreakdown } from './latency-breakdown.js';
import { runPingPath } from './ping-path.js';
import { ROUTE_BYTES_TARGET, runRouteMemory } from './route-memory.js';
import { runRouteServers } from './route-servers.js';
import { ENSEMBLE_WRITE_BYTES_PER_SEC, FULL_VIEW_ROUTERS, fits, maxUsers, runRouteModel, SMALL_SHARD_USERS } from './route-load-model.js';
import { renderLogLogPanels, type Series } from './log-plot.js';
import { ratio } from './percentiles.js';
import { clusterLoad, ENSEMBLE_READS_PER_SEC, ENSEMBLE_WRITES_PER_SEC, MODEL_SERVERS, MODEL_WATCHERS, runModel, type ModelResult } from './zk-load-model.js';
import { burstWrites, propagation } from './zk-writes.js';

/** Allocation-service instances that watch on behalf of every client (clients ask over HTTP). */
const ALLOC_INSTANCES = 3;

const options = {
  model: { type: 'boolean', default: false },
  hold: { type: 'string', default: '10000' },
  'hold-servers': { type: 'string', default: '5' },
  'no-hold': { type: 'boolean', default: false },
  only: { type: 'string' },
  'peer-users': { type: 'string', default: String(DEFAULT_PEER_USERS) },
  'memory-users': { type: 'string', default: DEFAULT_MEMORY_LEVELS.join(',') },
  verbose: { type: 'boolean', default: !!process.env.BENCH_VERBOSE },
} as const;
let args: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
try {
  args = parseArgs({ options }).values;
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(2);
}
const PARTS = ['latency', 'connect', 'writes', 'hold', 'model', 'messaging', 'http-push', 'ws', 'peer', 'routes', 'history', 'fanout', 'memory'];
if (args.only !== undefined && !PARTS.includes(args.only)) {
  console.error(`--only: must be one of ${PARTS.join(', ')}, got ${JSON.stringify(args.only)}`);
  process.exit(2);
}
const runs = (part: string) => args.only === undefined || args.only === part;
const holdLevel = Number(args.hold);
if (!Number.isInteger(holdLevel) || holdLevel < 100) {
  console.error(`--hold: must be an integer of at least 100, got ${JSON.stringify(args.hold)}`);
  process.exit(2);
}

const peerUsers = Number(args['peer-users']);
if (!Number.isInteger(peerUsers) || peerUsers < 100 || peerUsers > 15_000) {
  console.error(`--peer-users: must be an integer from 100 to 15000, got ${JSON.stringify(args['peer-users'])}`);
  process.exit(2);
}

const memoryLevels = args['memory-users']!.split(',').map(Number);
if (memoryLevels.some((v, i) => !Number.isInteger(v) || v < 100 || v > 60_000 || (i > 0 && v <= memoryLevels[i - 1]!))) {
  console.error(`--memory-users: must be increasing integers from 100 to 60000, comma-separated, got ${JSON.stringify(args['memory-users'])}`);
  process.exit(2);
}

const holdServers = Number(args['hold-servers']);
if (!Number.isInteger(holdServers) || holdServers < 1 || holdServers > 20) {
  console.error(`--hold-servers: must be an integer from 1 to 20, got ${JSON.stringify(args['hold-servers'])}`);
  process.exit(2);
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const ms = (v: number) => v.toFixed(2);
const pct = (v: number) => `${Math.round(v * 100)} %`;
const ok = (good: boolean) => (good ? 'OK' : 'MISSED');
const table = (head: string[], rows: (string | number)[][]) => {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(`  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`);
};

function printModel(m: ModelResult): void {
  const p = m.perServer;
  console.log(`ZooKeeper load model (simulation; churn: log-normal arrivals around 10/s per server, 60 s mean lifetime, ~${n0(p.meanBalance)} connections per server)`);
  console.log(`  per server: ${p.events.toFixed(1)} connection events/s → ${p.writesOff.toFixed(2)} writes/s writing every change, ${p.writesOn.toFixed(2)} writes/s adaptive (longest hold-back ${n0(p.maxStalenessOnMs)} ms, exact at quiesce: ${p.allExact ? 'yes' : 'NO'})`);
  table(
    ['servers', 'watchers', 'writes/s every change', 'writes/s adaptive', 'reads/s every change', 'reads/s adaptive'],
    m.rows.map((r) => [r.servers, n0(r.watchers), n0(r.off.writesPerSec), n0(r.on.writesPerSec), n0(r.off.readsPerSec), n0(r.on.readsPerSec)]),
  );
  console.log(`  capacity of a 3-node ensemble: ${n0(ENSEMBLE_WRITES_PER_SEC)} writes/s, ${n0(ENSEMBLE_READS_PER_SEC)} reads/s`);
  table(['servers', 'max watchers, every change', 'max watchers, adaptive'], m.maxWatchers.map((r) => [r.servers, n0(r.off), n0(r.on)]));
  console.log('');
}

function printRouteModel(): void {
  const mb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  console.log('route load model (bench/route-load-model.ts; no processes): 100,000 users per server, each session a login and a logout, the real');
  console.log(`route write policy on every shard; "full views" are the routers keeping the whole table (${FULL_VIEW_ROUTERS} besides the servers, or none)`);
  table(
    ['users', 'sessions', 'servers', 'servers keep', 'users per shard', 'full views', 'writes/s', 'write MB/s', 'shard reads/s', 'read MB/s', 'routes per server', 'per full view', 'ZooKeeper', 'gateway req/s per server', 'one ensemble'],
    runRouteModel().map((r) => [n0(r.users), r.sessionSec >= 3_600 ? `${r.sessionSec / 3_600} h` : `${r.sessionSec / 60} min`, r.servers, r.mode === 'watched' ? 'the table' : 'own + asked', n0(Math.round(r.users / r.servers / r.shardsPerServer)), r.fullViews, n0(r.writesPerSec), (r.writeBytesPerSec / 1e6).toFixed(1), n0(r.readsPerSec), (r.readBytesPerSec / 1e6).toFixed(0), mb(r.serverBytes), mb(r.fullViewBytes), mb(r.zkBytes), n0(r.gatewayPerServer), fits(r) ? 'yes' : 'NO']),
  );
  console.log(`  one ensemble: ${n0(ENSEMBLE_WRITES_PER_SEC)} writes/s of 1 KB (taken as ${(ENSEMBLE_WRITE_BYTES_PER_SEC / 1e6).toFixed(1)} MB/s of writes), ${n0(ENSEMBLE_READS_PER_SEC)} reads/s`);
  console.log(`  most users one ensemble carries (servers on demand, ${SMALL_SHARD_USERS} users per shard, no full view): ${n0(maxUsers(1_800))} at 30-minute sessions, ${n0(maxUsers(8 * 3_600))} at 8-hour sessions\n`);
}

function writeModelSvg(m: ModelResult, file: string): void {
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c'];
  const writes: Series[] = [
    { label: 'writes/s, every change', color: '#7f7f7f', points: MODEL_SERVERS.map((s) => ({ x: s, y: m.rows.find((r) => r.servers === s)!.off.writesPerSec })) },
    { label: 'writes/s, adaptive policy', color: '#2ca02c', points: MODEL_SERVERS.map((s) => ({ x: s, y: m.rows.find((r) => r.servers === s)!.on.writesPerSec })) },
  ];
  const reads: Series[] = MODEL_WATCHERS.flatMap((w, i) => [
    { label: `${n0(w)} watchers, every change`, color: colors[i]!, dashed: true, points: m.rows.filter((r) => r.watchers === w).map((r) => ({ x: r.servers, y: r.off.readsPerSec })) },
    { label: `${n0(w)} watchers, adaptive`, color: colors[i]!, points: m.rows.filter((r) => r.watchers === w).map((r) => ({ x: r.servers, y: r.on.readsPerSec })) },
    {
      label: `${ALLOC_INSTANCES} allocation-service instances watching (adaptive)`,
      color: '#9467bd',
      points: MODEL_SERVERS.map((s) => ({ x: s, y: clusterLoad(s, ALLOC_INSTANCES, m.perServer.writesOn).readsPerSec })),
    },
  ]);
  const svg = renderLogLogPanels([
    { title: 'ZooKeeper writes/s (balance updates)', xLabel: 'servers', yLabel: 'writes per second', series: writes, limits: [{ y: ENSEMBLE_WRITES_PER_SEC, label: '3-node ensemble, writes' }] },
    { title: 'ZooKeeper reads/s (watch re-reads)', xLabel: 'servers', yLabel: 'reads per second', series: reads, limits: [{ y: ENSEMBLE_READS_PER_SEC, label: '3-node ensemble, reads' }] },
  ]);
  mkdirSync('docs', { recursive: true });
  writeFileSync(file, svg);
  console.log(`  plot written to ${file}\n`);
}

function printHold(h: HoldResult, v8Default: HoldResult): void {
  const f = h.fulcrum;
  const p = h.haproxy!;
  console.log(`hold ${n0(h.total)} concurrent connections (each proven by a ping/pong), ${f.processes} server processes`);
  table(
    ['', 'fulcrum (direct)', 'HAProxy leastconn', 'ratio'],
    [
      ['held', `${n0(f.held)}${f.failed ? ` (${n0(f.failed)} failed)` : ''}`, `${n0(p.held)}${p.failed ? ` (${n0(p.failed)} failed)` : ''}`, ''],
      ['time to open all', `${(f.openMs / 1000).toFixed(1)} s`, `${(p.openMs / 1000).toFixed(1)} s`, ratio(f.openMs, p.openMs)],
      ['RSS per connection above idle', `${n0(f.bytesPerConn)} B (${f.processes} servers)`, `${n0(p.bytesPerConn)} B (${p.processes} HAProxy)`, ratio(f.bytesPerConn, p.bytesPerConn)],
      ['RSS growth per connection, second half opened', `${n0(f.marginalBytesPerConn)} B`, `${n0(p.marginalBytesPerConn)} B`, ratio(f.marginalBytesPerConn, p.marginalBytesPerConn)],
    ],
  );
  console.log(`  per server at the peak: ${f.perServer.map(n0).join(' / ')}; RSS read without forcing a GC (garbage from the opening burst counts)`);
  console.log(`  ZooKeeper: balances exact at the peak ${f.peakExact ? 'yes' : 'NO'}, back to 0 after ${f.finalExact ? 'yes' : 'NO'}; ${n0(f.writes)} writes for ${n0(f.events)} connection events`);
  console.log(`  server RSS per connection above idle: target ≤ 3,072 B ${ok(f.bytesPerConn <= 3072)}${h.total < 90_000 ? ' (the target is set for 100,000 connections: --hold 99000 on this machine)' : ''}`);
  const d = v8Default.fulcrum;
  console.log(`  servers run with ${DEFAULT_SERVER_NODE_FLAGS.join(' ')} (the runner's default); again without it (V8's 16 MB semi-spaces):`);
  console.log(`  ${n0(d.bytesPerConn)} B above idle, ${n0(d.marginalBytesPerConn)} B second half; held ${n0(d.held)} in ${(d.openMs / 1000).toFixed(1)} s, balances exact at the peak and after ${d.peakExact && d.finalExact ? 'yes' : 'NO'}`);
  if (f.firstError || p.firstError) console.log(`  first error: ${f.firstError ?? p.firstError}`);
  console.log('');
}

function printFanout(f: FanoutResult): void {
  console.log(`fan-out: one server process each (ServerRunner defaults), ${n0(CPU_USERS)} raw TCP users logged in and in one room, a 64-byte body`);
  console.log('through the library Router; deliveries per second of the server\'s CPU time (utime + stime, /proc); receivers in their own process.');
  console.log('previous = the same build with bench/direct-writes.ts loaded: every frame written to its socket at once (the path before batching);');
  console.log('floor = a plain net.Server writing the same frames to as many sockets, one write per socket per turn (Node and the kernel alone)');
  table(
    ['deliveries per server CPU second', 'batched (range) · kernel share', 'previous (range) · kernel share', 'ratio', 'floor: plain net.Server · kernel', `target ≥ ${n0(FANOUT_TARGET)}`],
    f.cpu.map((r) => [
      `${r.label} (${n0(r.deliveries)} per round)`,
      `${n0(r.rate.batched.total)} (${n0(r.rate.batched.min)}–${n0(r.rate.batched.max)}) · ${pct(r.kernel.batched)}`,
      `${n0(r.rate.previous.total)} (${n0(r.rate.previous.min)}–${n0(r.rate.previous.max)}) · ${pct(r.kernel.previous)}`,
      ratio(r.rate.batched.total, r.rate.previous.total),
      `${n0(r.rate.floor.total)} (${r.floor.perWrite} per write) · ${pct(r.kernel.floor)}`,
      `${ok(r.rate.batched.total >= FANOUT_TARGET)} (${(r.rate.batched.total / FANOUT_TARGET).toFixed(2)}×)${r.missing.batched + r.missing.previous + r.missing.floor ? ` · ${r.missing.batched} / ${r.missing.previous} / ${r.missing.floor} missing` : ''}`,
    ]),
  );
  const e = f.e2e;
  console.log(`broadcast to ${n0(E2E_USERS)} users, send → last receipt, median of ${e.batched.rounds.length} interleaved rounds`);
  table(
    ['', 'batched', 'previous', 'ratio batched / previous'],
    [
      ['send → last receipt', `${ms(e.batched.median)} ms`, `${ms(e.previous.median)} ms`, ratio(e.batched.median, e.previous.median)],
      ['rounds', e.batched.rounds.map((x) => x.toFixed(0)).join(' '), e.previous.rounds.map((x) => x.toFixed(0)).join(' '), ''],
      ['server CPU per broadcast', `${n0(f.e2eCpuMs.batched)} ms`, `${n0(f.e2eCpuMs.previous)} ms`, ratio(f.e2eCpuMs.batched, f.e2eCpuMs.previous)],
      ['missing receipts', e.batched.missing, e.previous.missing, ''],
    ],
  );
  for (const [side, e] of Object.entries(f.routerErrors)) if (e.count) console.log(`  ${side}: ${e.count} fan-outs the Router reported failed (their receipts still count above); first: ${e.first}`);
  console.log(`  ${BROADCASTS} broadcasts of one turn share one socket write per connection; one at a time each costs a write per connection.\n`);
}

function printPeer(p: PeerResult): void {
  const kb = (b: number) => `${n0(b)} B`;
  const pair = <T>(x: { fulcrum: T; socketio: T }, f: (v: T) => string) => [f(x.fulcrum), f(x.socketio)];
  console.log(`messaging peer: fulcrum (2 MessagingServer processes, the library Router) vs Socket.IO ${p.versions.socketio} with @socket.io/redis-adapter ${p.versions.adapter}`);
  console.log(`(2 server processes, Redis ${p.versions.redis} pub/sub through ioredis, socket.io-client ${p.versions.client} over WebSocket only); ${n0(p.users)} logged-in users per side;`);
  console.log(`per side one users-driver and one pusher process, same driver code; ${p.rounds} rounds interleaved after a warm-up; server Node flags: fulcrum ${p.flags.fulcrum}, Socket.IO ${p.flags.socketio}`);
  console.log('push to one user, send → client ack (ms; median over the rounds of each round\'s percentile):');
  table(
    ['', 'fulcrum p50', 'Socket.IO p50', 'ratio', 'fulcrum p99', 'Socket.IO p99', 'ratio'],
    p.push.map((r) => [`${r.inFlight} in flight`, ...pair(r.latency, (s) => ms(s.p50)), ratio(r.latency.fulcrum.p50, r.latency.socketio.p50), ...pair(r.latency, (s) => ms(s.p99)), ratio(r.latency.fulcrum.p99, r.latency.socketio.p99)]),
  );
  table(['', 'fulcrum', 'Socket.IO', 'ratio'], [['acked pushes/s, 64 in flight', ...pair(p.pushRate, n0), ratio(p.pushRate.fulcrum, p.pushRate.socketio)]]);
  console.log('fan-out, send → last receipt (ms; median over the rounds):');
  table(
    ['', 'fulcrum', 'Socket.IO', 'ratio'],
    p.fanout.map((f) => [f.label, ...pair(f.ms, ms), ratio(f.ms.fulcrum, f.ms.socketio)]),
  );
  const missing = p.fanout.filter((f) => f.missing.fulcrum || f.missing.socketio);
  for (const f of missing) console.log(`  ${f.label}: receipts missing after ${RECEIPT_TIMEOUT_MS / 1000} s: fulcrum ${f.missing.fulcrum}, Socket.IO ${f.missing.socketio}`);
  if (p.extra.fulcrum || p.extra.socketio) console.log(`  duplicate receipts: fulcrum ${p.extra.fulcrum}, Socket.IO ${p.extra.socketio}`);
  if (p.failed.fulcrum || p.failed.socketio) console.log(`  failed pushes or publishes: fulcrum ${p.failed.fulcrum}, Socket.IO ${p.failed.socketio}`);
  console.log(`RSS per idle logged-in user, the 2 server processes, ${n0(p.users)} users logged in in two halves (read 1 s after each, no forced GC):`);
  table(
    ['server Node flags', 'fulcrum above idle', 'Socket.IO above idle', 'ratio', 'fulcrum second half', 'Socket.IO second half', 'ratio'],
    p.memory.map((m) => [m.flags, ...pair(m.perUser, kb), ratio(m.perUser.fulcrum, m.perUser.socketio), ...pair(m.marginal, kb), ratio(m.marginal.fulcrum, m.marginal.socketio)]),
  );
  console.log(`  the peer part took ${(p.durationMs / 1000).toFixed(0)} s\n`);
}

function printHistory(h: HistoryBenchResult): void {
  console.log(`message history: 2 MessagingServer processes with history in Redis ${h.redisVersion} (a local redis-server, append-only file fsynced`);
  console.log(`every second) beside 2 without, at the same time, rounds alternating; ${n0(h.users)} raw logged-in users per side acking every push;`);
  console.log('the pusher is the library Router (stores first, then delivers); send → ack at the Router, ms; median over 5 rounds');
  table(
    ['', 'history', 'no history', 'ratio'],
    [
      ['push, 1 in flight: p50', ms(h.sequential.history.p50), ms(h.sequential.plain.p50), ratio(h.sequential.history.p50, h.sequential.plain.p50)],
      ['push, 1 in flight: p99', ms(h.sequential.history.p99), ms(h.sequential.plain.p99), ratio(h.sequential.history.p99, h.sequential.plain.p99)],
      ['push, 64 in flight: p50', ms(h.loaded.history.p50), ms(h.loaded.plain.p50), ratio(h.loaded.history.p50, h.loaded.plain.p50)],
      ['push, 64 in flight: p99', ms(h.loaded.history.p99), ms(h.loaded.plain.p99), ratio(h.loaded.history.p99, h.loaded.plain.p99)],
      ['acked pushes/s, 64 in flight', n0(h.rate.history), n0(h.rate.plain), ratio(h.rate.history, h.rate.plain)],
    ],
  );
  const p99 = Math.max(h.sequential.history.p99 / h.sequential.plain.p99, h.loaded.history.p99 / h.loaded.plain.p99);
  console.log(`  targets: throughput ≥ 0.7× ${ok(h.rate.history / h.rate.plain >= 0.7)} · p99 ≤ 2× ${ok(p99 <= 2)}`);
  const c = h.cpu;
  const sum = (x: typeof c.plain) => x.redis + x.servers + x.pusher;
  console.log(`  CPU per push at 64 in flight (µs, /proc and process.cpuUsage): history ${n0(sum(c.history))} (Redis ${n0(c.history.redis)}, servers ${n0(c.history.servers)}, Router + users ${n0(c.history.pusher)})`);
  console.log(`    vs no history ${n0(sum(c.plain))} (servers ${n0(c.plain.servers)}, Router + users ${n0(c.plain.pusher)}): on 2 shared cores the rate follows the CPU per push (ratio ${ratio(sum(c.plain), sum(c.history))})`);
  const by = Object.entries(h.commands.byCommand).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', ');
  console.log(`  Redis per push (${n0(h.commands.pushes)} pushes, INFO commandstats): ${h.commands.scripts.toFixed(2)} script calls (the append; acked cursors coalesced), ${h.commands.total.toFixed(2)} commands in all: ${by}`);
  const r = h.recovery;
  console.log(`  recovery: ${n0(r.users)} users log in again at once, ${r.missed} messages each stored while they were away: all replayed in ${n0(r.historyMs)} ms`);
  console.log(`    (${n0(r.replayed)} messages, complete: ${r.complete ? 'yes' : 'NO'}); the same logins without history: ${n0(r.plainMs)} ms to the last welcome`);
  console.log(`  Redis memory (used_memory): ${n0(h.memory.perUserBytes)} B per user stream holding one message (${n0(h.memory.users)} streams), then`);
  console.log(`    ${n0(h.memory.perMessageBytes)} B per further message of a ~64-byte body (${h.memory.messages} more in each of ${n0(h.memory.deepUsers)} streams)\n`);
}

console.log(`fulcrum bench · ${new Date().toISOString().slice(0, 10)} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · node ${process.version}\n`);
function printMemory(m: MemoryResult): void {
  const kinds = { user: 'logged-in user', connection: 'connection, never logged in', floor: 'net.Server floor (same sockets)' } as const;
  console.log('memory per idle connection: one server process (ServerRunner, routes \'watched\', the default), raw TCP clients held by');
  console.log(`${Math.ceil(m.levels[m.levels.length - 1]! / 15_000)} driver processes; RSS above the idle process / connections, read ${'3 s'} after the last answer`);
  console.log(`  runner flags: ${m.flags.runner.join(' ') || '(none)'} · Node's defaults: ${m.flags.node.join(' ') || '(none)'}`);
  table(
    ['flags', '', ...m.levels.map((l) => `at ${n0(l)}`), 'target', '', `growth ${n0(m.levels[0]!)} → ${n0(m.levels[m.levels.length - 1]!)}`, 'server CPU s per 1,000 opened'],
    m.rows.map((r) => {
      const target = r.kind !== 'user' ? undefined : r.flags === 'runner' ? USER_BYTES_TARGET : EMBEDDED_USER_BYTES_TARGET;
      return [r.flags === 'runner' ? 'ServerRunner' : 'Node defaults', kinds[r.kind], ...r.perConn.map((v) => `${n0(v)} B`), target ? `≤ ${n0(target)} B` : '', target ? ok(r.perConn.every((v) => v <= target)) : '', Number.isNaN(r.marginal) ? '' : `${n0(r.marginal)} B`, r.cpuPer1000.toFixed(3)];
    }),
  );
  for (const r of m.rows) {
    if (!r.breakdown) continue;
    const b = r.breakdown;
    console.log(`  ${r.flags === 'runner' ? 'ServerRunner' : 'Node defaults'}, ${kinds[r.kind]} at ${n0(m.levels[m.levels.length - 1]!)}: heap ${n0(b.heapUsed)} B · external ${n0(b.external)} B · array buffers ${n0(b.arrayBuffers)} B · rest of RSS ${n0(b.rest)} B`);
  }
  console.log('');
}

if (args.model || args.only === 'model') {
  const m = runModel();
  printModel(m);
  writeModelSvg(m, 'docs/zk-load-model.svg');
  printRouteModel();
  process.exit(0);
}

const fdLimit = raiseFdLimit();
const zkConnect = process.env.FULCRUM_ZK ?? DEFAULT_ZK_CONNECT;
const base = `/fulcrum-bench/${process.pid}`;
const stopZk = await ensureZk(zkConnect, DEFAULT_ZK_CONNECT, (s) => console.log(s));
const admin = await connectZk({ connect: zkConnect });
const cleanups: (() => Promise<void>)[] = [];
const stopAll = async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stopAll().finally(() => process.exit(130)));
try {
  console.log(`open-file limit per process: ${n0(fdLimit)}\n`);
  // 1. Round trip and connect → first pong: fulcrum vs HAProxy in front of the same 5 servers, and
  //    beside it the same pair over 5 plain net.Servers (the limit), all rounds interleaved.
  if (runs('latency')) {
    const root = `${base}/latency`;
    await mkdirp(NativeZkClient.of(admin), root);
    const runner = new ServerRunner({ count: 5, zk: zkConnect, root, host: '127.0.0.1', logLevel: 'warn' });
    cleanups.push(() => runner.stop());
    const plainServers = Array.from({ length: 5 }, () => new BenchChild('./server-plain.js'));
    cleanups.push(async () => void (await Promise.all(plainServers.map((k) => k.stop()))));
    const servers = await runner.start();
    const plainPorts = await Promise.all(plainServers.map((k) => k.request<number>('listen', { kind: 'plain' })));
    const rows = await withHaproxy(servers.map((s) => s.port), (fulcrumProxy) =>
      withHaproxy(plainPorts, (plainProxy) =>
        runLatency(
          [
            { name: 'direct', target: { kind: 'fulcrum', zk: zkConnect, root } },
            { name: 'proxy', target: { kind: 'proxy', host: '127.0.0.1', port: fulcrumProxy } },
            { name: 'plain', target: { kind: 'list', addresses: plainPorts.map((port) => ({ host: '127.0.0.1', port })) } },
            { name: 'plainProxy', target: { kind: 'proxy', host: '127.0.0.1', port: plainProxy } },
          ],
          { verbose: args.verbose },
        ),
      ),
    );
    await stopAll();
    const cell = (r: LatencyRow, side: string, k: 'p50' | 'p99' | 'p999') => r.sides[side]![k];
    const q = (r: LatencyRow, a: string, b: string, k: 'p50' | 'p99' | 'p999') => cell(r, a, k) / cell(r, b, k);
    console.log('round trip and connection setup: fulcrum (client picks the least-loaded server, connects straight to it)');
    console.log('vs HAProxy 2.6 leastconn (mode tcp) in front of the same 5 server processes; default ping handler; one driver');
    console.log('process per side, same driver code, rounds interleaved; paced pings, ms; median over 12 rounds of each round\'s percentile');
    console.log(`(connect → first pong: 1,200 connects per side, pooled); the fulcrum driver's ClusterClient picks from a ServerCache with`);
    console.log(`minReadIntervalMs ${CLIENT_MIN_READ_INTERVAL_MS} and leaves the socket to the driver (ping: false), which sends the first ping itself as on the other sides`);
    table(
      ['', 'direct p50', 'HAProxy p50', 'ratio', 'direct p99', 'HAProxy p99', 'ratio', 'direct p999', 'HAProxy p999', 'ratio'],
      rows.map((r) => [r.label, ...(['p50', 'p99', 'p999'] as const).flatMap((k) => [ms(cell(r, 'direct', k)), ms(cell(r, 'proxy', k)), q(r, 'direct', 'proxy', k).toFixed(2)])]),
    );
    const rt = rows.filter((r) => r.connections !== undefined);
    const setup = rows.find((r) => r.connections === undefined)!;
    console.log(`  targets direct/HAProxy ≤ 0.6 at p50: ${ok(rt.every((r) => q(r, 'direct', 'proxy', 'p50') <= 0.6))} · ≤ 0.8 at p99: ${ok(rt.every((r) => q(r, 'direct', 'proxy', 'p99') <= 0.8))}`);
    console.log(`  connect → first pong p99 ≤ 0.8 × HAProxy's: ${ok(q(setup, 'direct', 'proxy', 'p99') <= 0.8)} (${q(setup, 'direct', 'proxy', 'p99').toFixed(2)})`);
    console.log('  all samples pooled (p50 / p99 / p999, direct vs HAProxy):');
    for (const r of rows) console.log(`    ${r.label}: ${ms(r.pooled.direct!.p50)} / ${ms(r.pooled.direct!.p99)} / ${ms(r.pooled.direct!.p999)} vs ${ms(r.pooled.proxy!.p50)} / ${ms(r.pooled.proxy!.p99)} / ${ms(r.pooled.proxy!.p999)} (${n0(r.pooled.direct!.n)} vs ${n0(r.pooled.proxy!.n)} samples)`);
    console.log('  the limit at every level, in the same interleaved rounds: 5 plain net.Server processes, plain connects round-robin');
    console.log('  (no fulcrum on either end), and a second HAProxy in front of them; fulcrum / plain compares the direct sides');
    table(
      ['', 'plain p50', 'its HAProxy', 'ratio', 'fulcrum / plain', 'plain p99', 'its HAProxy', 'ratio', 'fulcrum / plain'],
      rows.map((r) => [r.connections === undefined ? 'connect → first pong' : `${n0(r.connections)} connections`, ...(['p50', 'p99'] as const).flatMap((k) => [ms(cell(r, 'plain', k)), ms(cell(r, 'plainProxy', k)), q(r, 'plain', 'plainProxy', k).toFixed(2), q(r, 'direct', 'plain', k).toFixed(2)])]),
    );
    const within = rt.every((r) => q(r, 'direct', 'plain', 'p50') <= 1.1 && q(r, 'direct', 'plain', 'p99') <= 1.1);
    console.log(`  target: fulcrum's round trip within 10 % of plain's (fulcrum / plain ≤ 1.10 at p50 and p99, every level): ${ok(within)}`);
    for (const count of [1, 2]) await mkdirp(NativeZkClient.of(admin), `${root}-${count}`);
    const parts = await runLatencyBreakdown(zkConnect, root);
    const main = rows[0]!;
    console.log(`  where the direct round trip goes: the same 50 connections, 5,000 pings/s, median of 8 rounds; HAProxy in front of the same servers`);
    table(
      ['direct side connects to', 'direct p50', 'HAProxy p50', 'ratio', 'direct p99', 'HAProxy p99', 'ratio'],
      [{ label: 'fulcrum, 5 server processes (the table above)', row: main }, ...parts].map(({ label, row: r }) => [label, ...(['p50', 'p99'] as const).flatMap((k) => [ms(cell(r, 'direct', k)), ms(cell(r, 'proxy', k)), q(r, 'direct', 'proxy', k).toFixed(2)])]),
    );
    for (const kind of ['plain', 'fulcrum', 'messaging']) await mkdirp(NativeZkClient.of(admin), `${root}-${kind}`);
    const path = await runPingPath({ zk: zkConnect, root });
    const plainPath = path.find((p) => p.kind === 'plain')!;
    console.log(`  the server's own ping path: one process per side (--max-semi-space-size=1), this process the client, 50 connections,`);
    console.log(`  one ping at a time 1 ms apart, ${n0(plainPath.n)} per side, sides rotated every round; µs`);
    table(
      ['server', 'p50', 'p90', 'p50 / plain'],
      path.map((p) => [{ plain: 'plain net.Server, ping handler', fulcrum: 'ClusterServer, ping handler', messaging: 'MessagingServer (the latency part\'s servers)' }[p.kind], p.p50.toFixed(1), p.p90.toFixed(1), (p.p50 / plainPath.p50).toFixed(2)]),
    );
    console.log('');
  }
  // 2. Connect throughput at 1, 8, 64 in flight.
  if (runs('connect')) {
    const root = `${base}/connect`;
    await mkdirp(NativeZkClient.of(admin), root);
    const rows = await runConnectRate({ zk: zkConnect, root, verbose: args.verbose });
    console.log('connect throughput: fulcrum ClusterServer (registered, balance updates on) vs plain net.Server, same ping handler,');
    console.log('each in its own process, driver in its own; a connect counts once its pong arrived; 3,000 per round × 5 alternating rounds, medians');
    table(
      ['in flight', 'plain conn/s', 'fulcrum conn/s', 'ratio', 'balance writes', 'SYN retransmit stalls'],
      rows.map((r) => [r.concurrency, n0(r.plain), n0(r.fulcrum), ratio(r.fulcrum, r.plain), `${n0(r.writes)} / ${n0(r.events)} events`, `${r.synStalls.plain} / ${r.synStalls.fulcrum}`]),
    );
    console.log(`  target ratio ≥ 0.80 at every concurrency: ${ok(rows.every((r) => r.fulcrum / r.plain >= 0.8))}`);
    const old = await runConnectRate({ zk: zkConnect, root, concurrency: [64], rounds: 3, until: 'handshake' });
    console.log(`  the old method (count at the handshake, reset at once), 64 in flight: plain ${n0(old[0]!.plain)} vs fulcrum ${n0(old[0]!.fulcrum)} conn/s,`);
    console.log(`  ${old[0]!.synStalls.plain} / ${old[0]!.synStalls.fulcrum} connects waited out a 1 s SYN retransmit (the driver outran accept() and overflowed the listen queue)\n`);
  }
  // 3. ZooKeeper writes and propagation, default vs adaptive publishing.
  if (runs('writes')) {
    const root = `${base}/writes`;
    await mkdirp(NativeZkClient.of(admin), root);
    const b0 = await burstWrites(zkConnect, root, admin, false);
    const b1 = await burstWrites(zkConnect, root, admin, true);
    const p0 = await propagation(zkConnect, root, false);
    const p1 = await propagation(zkConnect, root, true);
    console.log('ZooKeeper writes: one server, 5,000-connection burst (connect all, then reset all); propagation of important changes');
    console.log('(a server\'s first connection arriving and leaving) into 4 watch-driven caches, from the server seeing it to each cache showing it');
    table(
      ['', 'every change (publishPolicy: false)', 'adaptive (the default)'],
      [
        ['burst: setData writes / events', `${n0(b0.writes)} / ${n0(b0.events)}`, `${n0(b1.writes)} / ${n0(b1.events)}`],
        ['burst: writes per event (target ≤ 0.05)', (b0.writes / b0.events).toFixed(4), (b1.writes / b1.events).toFixed(4)],
        ['burst: exact at peak · after', `${b0.peakExact ? 'yes' : 'NO'} · ${b0.finalExact ? 'yes' : 'NO'}`, `${b1.peakExact ? 'yes' : 'NO'} · ${b1.finalExact ? 'yes' : 'NO'}`],
        ['important change → caches p50 / p99 ms', `${ms(p0.important.p50)} / ${ms(p0.important.p99)}`, `${ms(p1.important.p50)} / ${ms(p1.important.p99)}`],
        ['setData ack → caches p50 / p99 ms', `${ms(p0.fromWrite.p50)} / ${ms(p0.fromWrite.p99)}`, `${ms(p1.fromWrite.p50)} / ${ms(p1.fromWrite.p99)}`],
      ],
    );
    console.log(`  targets: writes per event ≤ 0.05 ${ok(b0.writes / b0.events <= 0.05 && b1.writes / b1.events <= 0.05)} · important change p99 ≤ 50 ms ${ok(p0.important.p99 <= 50 && p1.important.p99 <= 50)}\n`);
  }
  // 4. Many connections held.
  if (runs('hold') && !args['no-hold']) {
    const root = `${base}/hold`;
    await mkdirp(NativeZkClient.of(admin), root);
    const log = args.verbose ? console.log : undefined;
    const held = await runHold({ zk: zkConnect, root, admin, total: holdLevel, servers: holdServers, log });
    // The runner caps V8's young generation (DEFAULT_SERVER_NODE_FLAGS): show what it saves.
    const v8Default = await runHold({ zk: zkConnect, root, admin, total: holdLevel, servers: holdServers, log, serverExecArgv: [], haproxy: false });
    printHold(held, v8Default);
  }
  // 5. The model (no processes).
  if (runs('model')) {
    const m = runModel();
    printModel(m);
    writeModelSvg(m, 'docs/zk-load-model.svg');
  }
  // 6. Messaging: route visibility, writes per login, push latency and rate, broadcast (bench/messaging.ts).
  if (runs('messaging')) await messagingBench(zkConnect);
  // 7. Pushes through the alloc service's HTTP API beside the library Router (bench/http-push.ts).
  if (runs('http-push')) await httpPushBench(zkConnect);
  // 8. The messaging peer: Socket.IO with the Redis adapter beside fulcrum (bench/peer.ts).
  if (runs('ws')) {
    const root = `${base}/ws`;
    await mkdirp(NativeZkClient.of(admin), root);
    printWsBench(await runWsBench({ zk: zkConnect, root, log: args.verbose ? console.log : undefined }), table);
  }
  if (runs('peer')) printPeer(await runPeer({ zk: zkConnect, base: `${base}/peer`, admin, users: peerUsers, log: args.verbose ? console.log : undefined }));
  // 9. Routes: bytes per route in a router holding the whole table, servers that hold it beside
  //    servers that ask, and the model up to 10 million users (bench/route-*.ts).
  if (runs('routes')) {
    const rows = await runRouteMemory({ zk: zkConnect, admin: NativeZkClient.of(admin), base: `${base}/routes` });
    console.log('route table: bytes per route entry in a router holding every route (heap + external after GC, fresh process);');
    console.log('shards written as servers write them (100,000 users per server, 11-character names), loaded by one RouteTable');
    table(
      ['routes', 'servers · shards', 'bytes per route', 'heap', 'external', 'ZooKeeper bytes per route', 'load', 'best() per second'],
      rows.map((r) => [n0(r.routes), `${r.servers} · ${r.shards}`, n0(r.bytesPerRoute), n0(r.heapPerRoute), n0(r.externalPerRoute), n0(r.zkBytesPerRoute), `${n0(r.loadMs)} ms`, n0(r.lookupsPerSec)]),
    );
    console.log(`  target ≤ ${ROUTE_BYTES_TARGET} B per route entry: ${ok(rows.every((r) => r.bytesPerRoute <= ROUTE_BYTES_TARGET))}`);
    const sv = await runRouteServers({ zk: zkConnect, admin: NativeZkClient.of(admin), base: `${base}/routes` });
    console.log(`servers that keep the whole table (watched) beside servers that keep their own users and ask (on-demand): 3 MessagingServers`);
    console.log(`in this process, ${n0(sv[0]!.logins)} logins over raw TCP (100 in flight), then 1,000 private sends to users on the next server (16 in flight)`);
    table(
      ['servers', 'route shard reads by the servers', 'bytes read', 'asks', 'login → welcome p50 / p99', 'send → sent p50 / p99', 'undelivered'],
      sv.map((r) => [r.mode, n0(r.shardReads), `${(r.shardReadBytes / 1e6).toFixed(1)} MB`, n0(r.asks), `${ms(r.welcome.p50)} / ${ms(r.welcome.p99)} ms`, `${ms(r.sent.p50)} / ${ms(r.sent.p99)} ms`, r.undelivered]),
    );
    printRouteModel();
  }
  // 10. Message history in Redis beside the same cluster without it (bench/history.ts).
  if (runs('history')) printHistory(await historyBench({ zk: zkConnect, base: `${base}/history`, admin, log: args.verbose ? console.log : undefined }));
  // 11. Fan-out: deliveries per server CPU second and broadcast to 10,000, batched beside the previous path (bench/fanout.ts).
  if (runs('fanout')) printFanout(await runFanout({ zk: zkConnect, base: `${base}/fanout`, admin, log: args.verbose ? console.log : undefined }));
  // 12. Memory per idle logged-in user on one server process (bench/memory.ts).
  if (runs('memory')) {
    // One server process holds every connection: a level beyond its open-file limit cannot be measured here.
    const most = Math.floor((fdLimit - 1_000) / 1_000) * 1_000;
    const levels = memoryLevels.filter((l) => l <= most);
    const dropped = memoryLevels.filter((l) => l > most);
    if (dropped.length > 0) {
      console.log(`memory: ${dropped.map(n0).join(', ')} connections do not fit one process's open-file limit of ${n0(fdLimit)} here (raising it needs CAP_SYS_RESOURCE): measured at ${n0(most)} instead`);
      levels.push(most);
    }
    printMemory(await runMemory({ zk: zkConnect, base: `${base}/memory`, admin, levels, log: args.verbose ? console.log : undefined }));
  }
} finally {
  await stopAll();
  await deleteTree(NativeZkClient.of(admin), base).catch(() => {});
  admin.close();
  await stopZk();
}
