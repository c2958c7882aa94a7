import { InvalidArgumentError } from '../../errors.js';
import type { HistoryEngine, HistoryLimitOptions } from './history-engine.js';
import { MemoryHistory } from './memory-history.js';
import { RedisHistory, type RedisTarget } from './redis-history.js';

/**
 * Message history for a MessagingServer, a Router or the allocation service: exactly one of
 * `redis` (a cluster: every server and router appends to and reads from the same Redis), `memory`
 * (one process) or `engine` (one you made and share, e.g. a MemoryHistory given to a server and a
 * Router in the same process). Absent: no history, and no Redis connection is made.
 */
export interface HistoryOptions extends HistoryLimitOptions {
  redis?: RedisTarget;
  memory?: true;
  engine?: HistoryEngine;
  /** Redis only. @default DEFAULT_REDIS_KEY_PREFIX ('fulcrum') */
  keyPrefix?: string;
  /** Redis only. @default DEFAULT_REDIS_COMMAND_TIMEOUT_MS (2000) */
  commandTimeoutMs?: number;
}

/** The engine the options name, and whether its maker (the caller) closes it. */
export function historyEngineOf(options: HistoryOptions | undefined): { engine: HistoryEngine; owned: boolean } | undefined {
  if (options === undefined) return undefined;
  const given = [options.redis !== undefined, options.memory === true, options.engine !== undefined].filter(Boolean).length;
  if (given !== 1) throw InvalidArgumentError.format('history', 'needs exactly one of redis, memory or engine');
  if (options.engine) {
    if (typeof options.engine.append !== 'function' || typeof options.engine.read !== 'function') throw InvalidArgumentError.format('history.engine', 'must implement HistoryEngine');
    return { engine: options.engine, owned: false };
  }
  const { redis, memory: _m, engine: _e, keyPrefix, commandTimeoutMs, ...limits } = options;
  if (redis !== undefined) return { engine: new RedisHistory({ ...limits, redis, keyPrefix, commandTimeoutMs }), owned: true };
  return { engine: new MemoryHistory(limits), owned: true };
}
