import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FulcrumError } from '../errors.js';
import { askTcp, ensureDebianPackage, pidAlive, readPidFile, spawnDetached, stopPid, waitUntil } from './local-daemon.js';

export { pidAlive, stopPid };

/** Debian's zookeeper package puts its jar (with a Class-Path manifest) here. */
export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
export const DEFAULT_ZK_DIR = '.zk';
export const DEFAULT_ZK_PORT = 2181;
export const DEFAULT_TICK_MS = 2_000;
export const DEFAULT_ZK_START_TIMEOUT_MS = 30_000;

export class ZkLauncherError extends FulcrumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FULCRUM_ZK_LAUNCHER', message, options);
  }
}

/** Installs Debian's zookeeper package when its jar is missing (needs root, as CI is). */
export function ensureZookeeperInstalled(log: (s: string) => void = () => {}): void {
  ensureDebianPackage(ZOOKEEPER_JAR, 'zookeeper', (message, cause) => new ZkLauncherError(message, { cause }), { log });
}

/** Sends a four-letter command; resolves with the reply, or undefined when nothing answers in time. */
export function fourLetter(port: number, cmd: 'ruok' | 'srvr' | 'mntr' | 'cons' | 'stat', host = '127.0.0.1', timeoutMs = 1_000): Promise<string | undefined> {
  return askTcp(port, host, cmd, { timeoutMs }); // ZooKeeper closes the connection after its answer
}

export async function isServing(port: number, host = '127.0.0.1'): Promise<boolean> {
  // ruok only says the JVM is up; srvr answers once the server can serve (quorum formed).
  const r = await fourLetter(port, 'srvr', host);
  return r !== undefined && /Mode: /.test(r);
}

export async function serverMode(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  const r = await fourLetter(port, 'srvr', host);
  return r ? /Mode: (\w+)/.exec(r)?.[1] : undefined;
}

/** Hex ids (no 0x, no leading zeros, like `client_id`) of the sessions connected to the node at `port`. */
export async function sessionsOn(port: number, host = '127.0.0.1'): Promise<Set<string>> {
  const r = await fourLetter(port, 'cons', host);
  const out = new Set<string>();
  for (const m of (r ?? '').matchAll(/sid=0x([0-9a-f]+)/gi)) out.add(BigInt(`0x${m[1]}`).toString(16));
  return out;
}

/** The node of a layout that currently leads (or the standalone node); undefined while none does. */
export async function findLeader(layout: ClusterLayout): Promise<ZkNodeSpec | undefined> {
  for (const spec of nodeSpecs(layout)) {
    const mode = await serverMode(spec.clientPort);
    if (mode === 'leader' || mode === 'standalone') return spec;
  }
  return undefined;
}

export interface ZkNodeSpec {
  /** Directory of this node: config, data, log, pid file. */
  dir: string;
  clientPort: number;
  tickMs?: number;
  /** For an ensemble: this node's id (1-based) and every member's quorum/election ports. */
  myId?: number;
  members?: { id: number; quorumPort: number; electionPort: number; clientPort: number }[];
}

export interface ZkNodeHandle {
  pid: number;
  clientPort: number;
  dir: string;
}

function writeConfig(spec: ZkNodeSpec): string {
  const dataDir = join(spec.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const lines = [
    `tickTime=${spec.tickMs ?? DEFAULT_TICK_MS}`,
    `dataDir=${dataDir}`,
    `clientPort=${spec.clientPort}`,
    'clientPortAddress=127.0.0.1',
    'admin.enableServer=false',
    '4lw.commands.whitelist=ruok,srvr,mntr,stat,cons',
    'maxClientCnxns=0',
    // The default 60 connections per IP is too few for load tests that start many sessions.
  ];
  if (spec.members && spec.myId) {
    lines.push('initLimit=10', 'syncLimit=5');
    for (const m of spec.members) lines.push(`server.${m.id}=127.0.0.1:${m.quorumPort}:${m.electionPort}`);
    writeFileSync(join(dataDir, 'myid'), `${spec.myId}\n`);
  }
  const cfg = join(spec.dir, 'zoo.cfg');
  writeFileSync(cfg, `${lines.join('\n')}\n`);
  return cfg;
}

/** Starts one ZooKeeper JVM detached (it outlives this process) and records its pid. */
export function spawnZkNode(spec: ZkNodeSpec): ZkNodeHandle {
  const dir = resolve(spec.dir);
  mkdirSync(dir, { recursive: true });
  const cfg = writeConfig({ ...spec, dir });
  const { pid } = spawnDetached(
    'java',
    [
      '-XX:-UsePerfData', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xms32m', '-Xmx256m',
      `-Djava.io.tmpdir=${dir}`, `-Dzookeeper.log.dir=${dir}`,
      '-cp', ZOOKEEPER_JAR, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg,
    ],
    { cwd: dir, logFile: join(dir, 'zookeeper.log'), pidFile: join(dir, 'zookeeper.pid') },
    (message) => new ZkLauncherError(message),
  );
  return { pid, clientPort: spec.clientPort, dir };
}

export async function waitServing(ports: number[], timeoutMs = DEFAULT_ZK_START_TIMEOUT_MS): Promise<void> {
  const ok = await waitUntil(async () => (await Promise.all(ports.map((p) => isServing(p)))).every(Boolean), timeoutMs);
  if (!ok) throw new ZkLauncherError(`ZooKeeper on port(s) ${ports.join(',')} not serving after ${timeoutMs} ms`);
}

export function readPid(dir: string): number | undefined {
  return readPidFile(join(dir, 'zookeeper.pid'));
}

export interface ClusterLayout {
  dir: string;
  /** 1 for standalone, 3 (or 5) for an ensemble. */
  size: number;
  /** Client port of node 1; node i listens on basePort + i - 1. */
  basePort: number;
  tickMs?: number;
}

export function nodeSpecs(layout: ClusterLayout): ZkNodeSpec[] {
  if (layout.size === 1) return [{ dir: join(layout.dir, 'standalone'), clientPort: layout.basePort, tickMs: layout.tickMs }];
  const members = Array.from({ length: layout.size }, (_, i) => ({
    id: i + 1,
    clientPort: layout.basePort + i,
    quorumPort: layout.basePort + 10_000 + i,
    electionPort: layout.basePort + 11_000 + i,
  }));
  return members.map((m) => ({ dir: join(layout.dir, `node${m.id}`), clientPort: m.clientPort, tickMs: layout.tickMs, myId: m.id, members }));
}

export function connectStringOf(layout: ClusterLayout): string {
  return nodeSpecs(layout).map((s) => `127.0.0.1:${s.clientPort}`).join(',');
}

/** Starts the nodes of a layout that are not already running; resolves once all serve. */
export async function startCluster(layout: ClusterLayout, opts: { fresh?: boolean } = {}): Promise<ZkNodeHandle[]> {
  ensureZookeeperInstalled();
  const handles: ZkNodeHandle[] = [];
  for (const spec of nodeSpecs(layout)) {
    const old = readPid(spec.dir);
    if (old && pidAlive(old)) {
      handles.push({ pid: old, clientPort: spec.clientPort, dir: resolve(spec.dir) });
      continue;
    }
    if (opts.fresh) rmSync(join(spec.dir, 'data'), { recursive: true, force: true });
    if (await fourLetter(spec.clientPort, 'ruok', '127.0.0.1', 300)) {
      throw new ZkLauncherError(`port ${spec.clientPort} is already in use by another process`);
    }
    handles.push(spawnZkNode(spec));
  }
  await waitServing(handles.map((h) => h.clientPort));
  return handles;
}

export async function stopCluster(layout: ClusterLayout): Promise<number> {
  let stopped = 0;
  for (const spec of nodeSpecs(layout)) {
    const pid = readPid(spec.dir);
    if (pid && pidAlive(pid)) {
      await stopPid(pid);
      stopped++;
    }
    rmSync(join(spec.dir, 'zookeeper.pid'), { force: true });
  }
  return stopped;
}

/** The standalone server `npm run zk -- start` manages. */
export const LOCAL_LAYOUT: ClusterLayout = { dir: DEFAULT_ZK_DIR, size: 1, basePort: DEFAULT_ZK_PORT };

/**
 * Makes sure a ZooKeeper answers at `connect`: when nothing answers at the default local
 * address it starts the local standalone server. Returns a stop function for what it started.
 */
export async function ensureZk(connect: string, defaultConnect: string, log: (s: string) => void = () => {}): Promise<() => Promise<void>> {
  const first = connect.split(',')[0]!.split('/')[0]!;
  const port = Number(first.slice(first.lastIndexOf(':') + 1));
  const host = first.slice(0, first.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (await isServing(port, host)) return async () => {};
  if (connect !== defaultConnect) throw new ZkLauncherError(`no ZooKeeper answers at ${connect}`);
  log(`no ZooKeeper at ${connect}: starting a local standalone one (data in ${DEFAULT_ZK_DIR}/)`);
  await startCluster(LOCAL_LAYOUT);
  return async () => {
    await stopCluster(LOCAL_LAYOUT);
    log('stopped the local ZooKeeper started for this run');
  };
}
