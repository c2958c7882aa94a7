import { destination, pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** What fulcrum logs through: pino's interface, so an application can pass its own pino logger. */
export type Logger = PinoLogger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** @default 'info', or FULCRUM_LOG_LEVEL */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** The environment variable that sets the level when no option does. */
export const LOG_LEVEL_ENV = 'FULCRUM_LOG_LEVEL';

export interface LoggerOptions {
  /** Component name, the `name` field of every line. @default 'fulcrum' */
  name?: string;
  /** @default FULCRUM_LOG_LEVEL or DEFAULT_LOG_LEVEL */
  level?: LogLevel;
  /** Fields on every line (e.g. `{ server: 3 }`). */
  bindings?: Record<string, unknown>;
  /** Where lines go. @default a synchronous stream on stderr (nothing is lost when a short-lived process exits) */
  destination?: DestinationStream;
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** The level FULCRUM_LOG_LEVEL asks for; undefined when it is unset or not a level. */
export function envLogLevel(): LogLevel | undefined {
  const env = process.env[LOG_LEVEL_ENV];
  return env && isLogLevel(env) ? env : undefined;
}

/** JSON lines on stderr (stdout belongs to the tools' tables and machine-readable output). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? envLogLevel() ?? DEFAULT_LOG_LEVEL;
  const logger = pino({ name: options.name ?? 'fulcrum', level }, options.destination ?? destination({ fd: 2, sync: true }));
  return options.bindings ? logger.child(options.bindings) : logger;
}

let fallback: Logger | undefined;

/** The logger library components use when the application gave them none. */
export function defaultLogger(): Logger {
  return (fallback ??= createLogger());
}
