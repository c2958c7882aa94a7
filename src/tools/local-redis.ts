// A local Redis for development, tests and the bench, run from the project directory like the
// local ZooKeeper: Debian's redis-server (installed with apt-get when missing), loopback only,
// config, data, pid file and log under one directory.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FulcrumError } from '../errors.js';
import { askTcp, canConnect, ensureDebianPackage, livePidFromFile, spawnDetached, stopPid, waitUntil } from './local-daemon.js';

/** Debian's redis-server package puts its binary here. */
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';
export const DEFAULT_REDIS_DIR = '.redis';
export const DEFAULT_REDIS_PORT = 6379;
export const DEFAULT_REDIS_START_TIMEOUT_MS = 20_000;

export class RedisLauncherError extends FulcrumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FULCRUM_REDIS_LAUNCHER', message, options);
  }
}

/** One local redis-server. */
export interface LocalRedisSpec {
  /** Holds redis.conf, redis.pid, redis.log and data/. */
  dir: string;
  port: number;
}

export interface LocalRedisHandle {
  pid: number;
  port: number;
  /** Absolute directory. */
  dir: string;
  /** `redis://127.0.0.1:port`, what a client connects to. */
  url: string;
}

/** The server `npm run redis -- start` manages. */
export const LOCAL_REDIS: LocalRedisSpec = { dir: DEFAULT_REDIS_DIR, port: DEFAULT_REDIS_PORT };

export function redisUrlOf(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

/** Installs Debian's redis-server package when the binary is missing (needs root, as CI is). */
export function ensureRedisInstalled(log: (s: string) => void = () => {}): void {
  // The package also enables a system service on 6379; the launcher never uses it.
  ensureDebianPackage(REDIS_SERVER_BIN, 'redis-server', (message, cause) => new RedisLauncherError(message, { cause }), { log, recommends: false });
}

/**
 * The configuration file text. Loopback only with protected mode on (no password: nothing beyond
 * this machine can reach it). Persistence: an append-only file fsynced every second and no RDB
 * snapshots, so message history survives a restart of the process (a crash of the machine loses
 * at most the last second); pub/sub, all the bench's peer uses, writes nothing to it. Stream nodes
 * are kept small (message history: many short streams).
 */
export function redisConfig(spec: LocalRedisSpec): string {
  const dir = resolve(spec.dir);
  return [
    `port ${spec.port}`,
    'bind 127.0.0.1 -::1',
    'protected-mode yes',
    'daemonize no',
    `dir ${join(dir, 'data')}`,
    'logfile ""', // stdout, which the launcher appends to redis.log
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    // Message history keeps one stream per user, most of them short: Redis preallocates a stream's
    // node up to this size (4 KB by default), so a one-message stream takes ~1.5 KB instead of ~4.6 KB.
    'stream-node-max-bytes 1024',
    '',
  ].join('\n');
}

function pidFile(spec: LocalRedisSpec): string {
  return join(resolve(spec.dir), 'redis.pid');
}

/** The pid of the redis-server started from `spec.dir`, when it still runs. */
export function runningRedisPid(spec: LocalRedisSpec): number | undefined {
  return livePidFromFile(pidFile(spec), 'redis-server');
}

/** Sends PING; resolves with the first reply line (`+PONG`, `-LOADING …`), undefined when nothing answers in time. */
export async function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<string | undefined> {
  const reply = await askTcp(port, host, 'PING\r\n', { timeoutMs, complete: (r) => r.includes('\r\n') });
  return reply?.split('\r\n')[0] || undefined;
}

export async function isRedisServing(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await pingRedis(port, host)) === '+PONG';
}

/**
 * Starts the server of `spec` unless it already runs; resolves once it answers PING (after
 * loading its data). `fresh` deletes the data of a server that is not running first.
 */
export async function startRedis(spec: LocalRedisSpec, opts: { fresh?: boolean; timeoutMs?: number; log?: (s: string) => void } = {}): Promise<LocalRedisHandle> {
  const dir = resolve(spec.dir);
  const handle = (pid: number): LocalRedisHandle => ({ pid, port: spec.port, dir, url: redisUrlOf(spec.port) });
  const old = runningRedisPid(spec);
  if (old !== undefined) {
    if (await isRedisServing(spec.port)) return handle(old);
    throw new RedisLauncherError(`the redis-server of ${dir} (pid ${old}) does not answer on port ${spec.port}; stop it first`);
  }
  ensureRedisInstalled(opts.log);
  if (await canConnect(spec.port)) throw new RedisLauncherError(`port ${spec.port} is already in use by another process`);
  if (opts.fresh) rmSync(join(dir, 'data'), { recursive: true, force: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  const conf = join(dir, 'redis.conf');
  writeFileSync(conf, redisConfig(spec));
  const logFile = join(dir, 'redis.log');
  const child = spawnDetached(REDIS_SERVER_BIN, [conf], { cwd: dir, logFile, pidFile: pidFile(spec) }, (m) => new RedisLauncherError(m));
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_START_TIMEOUT_MS;
  const up = await waitUntil(async () => exitCode !== undefined || (await isRedisServing(spec.port)), timeoutMs, 50);
  if (exitCode !== undefined) {
    rmSync(pidFile(spec), { force: true });
    throw new RedisLauncherError(`redis-server exited with code ${exitCode} while starting (see ${logFile})`);
  }
  if (!up) {
    await stopPid(child.pid);
    rmSync(pidFile(spec), { force: true });
    throw new RedisLauncherError(`redis-server on port ${spec.port} did not answer PING within ${timeoutMs} ms (see ${logFile})`);
  }
  return handle(child.pid);
}

/** Stops the server of `spec` (SIGTERM: it flushes the append-only file); false when none ran. */
export async function stopRedis(spec: LocalRedisSpec): Promise<boolean> {
  const pid = runningRedisPid(spec);
  if (pid !== undefined) await stopPid(pid);
  rmSync(pidFile(spec), { force: true });
  return pid !== undefined;
}

/** `redis://127.0.0.1:6379`: where the demo looks for a Redis first. */
export const DEFAULT_REDIS_URL = redisUrlOf(DEFAULT_REDIS_PORT);

/**
 * Makes sure a Redis answers at `url`: when nothing answers at the default local address it
 * starts the local one (`npm run redis -- start`'s). Returns a stop function for what it started.
 */
export async function ensureRedis(url: string, log: (s: string) => void = () => {}): Promise<() => Promise<void>> {
  const u = new URL(url);
  const port = Number(u.port || DEFAULT_REDIS_PORT);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  if ((await pingRedis(port, host)) !== undefined) return async () => {};
  if (url !== DEFAULT_REDIS_URL) throw new RedisLauncherError(`no Redis answers at ${url}`);
  log(`no Redis at ${url}: starting a local one (data in ${DEFAULT_REDIS_DIR}/)`);
  await startRedis(LOCAL_REDIS, { log });
  return async () => {
    await stopRedis(LOCAL_REDIS);
    log('stopped the local Redis started for this run');
  };
}
