import { destination, pino, type Logger as PinoLogger } from 'pino';

/** What fulcrum logs through: pino's interface, so an application can pass its own pino logger. */
export type Logger = PinoLogger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** @default 'info', or FULCRUM_LOG_LEVEL */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

export interface LoggerOptions {
  /** Component name, the `name` field of every line. */
  name?: string;
  /** @default FULCRUM_LOG_LEVEL or DEFAULT_LOG_LEVEL */
  level?: LogLevel;
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** JSON lines on stderr (stdout belongs to the tools' tables and machine-readable output). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const env = process.env.FULCRUM_LOG_LEVEL;
  const level = options.level ?? (env && isLogLevel(env) ? env : DEFAULT_LOG_LEVEL);
  return pino({ name: options.name ?? 'fulcrum', level }, destination({ fd: 2, sync: true }));
}

let fallback: Logger | undefined;

/** The logger library components use when the application gave them none. */
export function defaultLogger(): Logger {
  return (fallback ??= createLogger());
}
