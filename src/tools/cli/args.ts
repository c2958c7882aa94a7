import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FulcrumError, InvalidArgumentError, ZkConnectTimeoutError } from '../../errors.js';
import { parseConnectString, DEFAULT_ZK_CONNECT } from '../../zk/connect-string.js';
import { DEFAULT_ROOT, validateRoot } from '../../zk/paths.js';
import { DEFAULT_LOG_LEVEL, isLogLevel, LOG_LEVEL_ENV, LOG_LEVELS, type Logger, type LogLevel } from '../../log/logger.js';
import { toolLogger } from '../log/tool-logger.js';
import {
  DEFAULT_ROOM_HISTORY_SIZE,
  DEFAULT_ROOM_HISTORY_TTL_MS,
  DEFAULT_USER_HISTORY_SIZE,
  DEFAULT_USER_HISTORY_TTL_MS,
  resolveHistoryLimits,
  type HistoryLimitOptions,
} from '../../messaging/history/history-engine.js';
import { checkRedisUrl, RedisHistory } from '../../messaging/history/redis-history.js';

/** Bad command-line input: reported as one line with exit code 2. */
export class UsageError extends FulcrumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FULCRUM_USAGE', message, options);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Every command takes --log-level. */
export const LOG_OPTIONS = {
  'log-level': { type: 'string' },
} as const satisfies Options;

export const LOG_HELP = `  --log-level LEVEL              ${LOG_LEVELS.join(', ')} (env ${LOG_LEVEL_ENV}, default ${DEFAULT_LOG_LEVEL});
                                 logs go to stderr: JSON lines, readable lines on a terminal`;

export const ZK_OPTIONS = {
  ...LOG_OPTIONS,
  zk: { type: 'string' },
  root: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export const ZK_HELP = `  --zk HOST:PORT[,HOST:PORT...]  ZooKeeper (env FULCRUM_ZK, default ${DEFAULT_ZK_CONNECT})
  --root PATH                    parent of the server nodes (env FULCRUM_ROOT, default ${DEFAULT_ROOT})
${LOG_HELP}
  -h, --help                     show this help`;

/** parseArgs that turns every complaint into a UsageError and handles --help. */
export function parseCli<O extends Options>(argv: string[], options: O, help: string, allowPositionals = false): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!.replace(/^TypeError \[\w+\]: /, ''));
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${help.trim()}\n`);
    process.exit(0);
  }
  logLevelOf(parsed.values as { 'log-level'?: string });
  return parsed;
}

/**
 * The level from --log-level, else FULCRUM_LOG_LEVEL, else `fallback`; a bad one is a usage error.
 * Commands that draw a live table pass 'warn', so routine lines do not scroll it away.
 */
export function logLevelOf(values: { 'log-level'?: string }, fallback: LogLevel = DEFAULT_LOG_LEVEL): LogLevel {
  const flag = values['log-level'];
  if (flag !== undefined) {
    if (!isLogLevel(flag)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(flag)}`);
    return flag;
  }
  const env = process.env[LOG_LEVEL_ENV];
  if (env !== undefined && env !== '') {
    if (!isLogLevel(env)) throw new UsageError(`${LOG_LEVEL_ENV} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env)}`);
    return env;
  }
  return fallback;
}

/** The logger of a command, at the level its flags and environment ask for. */
export function cliLogger(name: string, values: { 'log-level'?: string }, fallback?: LogLevel): Logger {
  return toolLogger({ name, level: logLevelOf(values, fallback) });
}

/** The ZooKeeper connect string and root from flags, env, or defaults, validated. */
export function zkTarget(values: { zk?: string; root?: string }): { zk: string; root: string } {
  const zk = values.zk ?? process.env.FULCRUM_ZK ?? DEFAULT_ZK_CONNECT;
  const root = values.root ?? process.env.FULCRUM_ROOT ?? DEFAULT_ROOT;
  parseConnectString(zk);
  validateRoot(root);
  return { zk, root };
}

/** Message history flags (servers, alloc, push). */
export const HISTORY_OPTIONS = {
  redis: { type: 'string' },
  'history-user-messages': { type: 'string' },
  'history-user-ttl-ms': { type: 'string' },
  'history-room-messages': { type: 'string' },
  'history-room-ttl-ms': { type: 'string' },
} as const satisfies Options;

export const HISTORY_HELP = `Message history (off unless a Redis is given; give every server, alloc and push process the same):
  --redis URL            keep every push, private message and room publish in Redis Streams
                         (env FULCRUM_REDIS): redis://host:port[/db], rediss://…,
                         redis-cluster://host:port,host:port…, redis-sentinel://host:port,…/master
  --history-user-messages N   messages kept per user (default ${DEFAULT_USER_HISTORY_SIZE})
  --history-user-ttl-ms MS    how long (default ${DEFAULT_USER_HISTORY_TTL_MS}: 24 h)
  --history-room-messages N   messages kept per room (default ${DEFAULT_ROOM_HISTORY_SIZE})
  --history-room-ttl-ms MS    how long (default ${DEFAULT_ROOM_HISTORY_TTL_MS}: 5 min)`;

/** The history store and limits from flags and env (FULCRUM_REDIS), checked; undefined when history is off. */
export function historyTarget(values: Record<string, unknown>): ({ redis: string } & HistoryLimitOptions) | undefined {
  const redis = (values.redis as string | undefined) ?? (process.env.FULCRUM_REDIS || undefined);
  const limits: HistoryLimitOptions = {};
  const int = (flag: string) => (values[flag] === undefined ? undefined : intFlag(values, flag, undefined, 1));
  const users = { maxMessages: int('history-user-messages'), ttlMs: int('history-user-ttl-ms') };
  const rooms = { maxMessages: int('history-room-messages'), ttlMs: int('history-room-ttl-ms') };
  if (users.maxMessages !== undefined || users.ttlMs !== undefined) limits.users = users;
  if (rooms.maxMessages !== undefined || rooms.ttlMs !== undefined) limits.rooms = rooms;
  if (redis === undefined) {
    if (limits.users || limits.rooms) throw new UsageError('--history-* flags need --redis (or FULCRUM_REDIS)');
    return undefined;
  }
  try {
    checkRedisUrl(redis);
    resolveHistoryLimits(limits);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^history\.redis:? /, '--redis: '), { cause: e });
  }
  return { redis, ...limits };
}

/** Fails fast, with one line, when the history store does not answer. */
export async function checkHistoryStore(redis: string): Promise<void> {
  const store = new RedisHistory({ redis });
  try {
    await store.start();
  } catch (e) {
    throw new UsageError(`--redis ${redis}: ${(e as Error).message}`, { cause: e });
  } finally {
    await store.close();
  }
}

/** The one subcommand of a local-server command (`npm run zk`, `npm run redis`). */
export function lifecycleCommand(positionals: string[]): 'start' | 'stop' | 'status' {
  const cmd = positionals[0];
  if (positionals.length !== 1 || (cmd !== 'start' && cmd !== 'stop' && cmd !== 'status')) {
    throw new UsageError(`expected one of start, stop, status (see --help), got ${JSON.stringify(positionals.join(' '))}`);
  }
  return cmd;
}

/** An integer flag within [min, max]; `fallback` when absent. */
export function intFlag(values: Record<string, unknown>, name: string, fallback: number | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = values[name];
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Error codes that mean the user asked for something impossible (exit 2), not a crash. */
const USER_CODES = new Set(['FULCRUM_HISTORY_UNAVAILABLE', 'FULCRUM_USAGE', 'FULCRUM_INVALID_ARGUMENT', 'FULCRUM_ZK_CONNECT_TIMEOUT', 'FULCRUM_LISTEN', 'FULCRUM_NO_SERVERS', 'FULCRUM_ZK_LAUNCHER', 'FULCRUM_REDIS_LAUNCHER']);

/** Runs a command: one-line errors, exit 2 for bad input, 1 for anything else. */
export function runCli(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const err = e as Error & { code?: string };
    const user = e instanceof UsageError || e instanceof InvalidArgumentError || e instanceof ZkConnectTimeoutError || (e instanceof FulcrumError && USER_CODES.has(err.code!));
    process.stderr.write(`${name}: ${err.message ?? String(e)}\n`);
    if (!user && process.env.FULCRUM_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exit(user ? 2 : 1);
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
