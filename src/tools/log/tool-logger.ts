import pinoPretty from 'pino-pretty';
import { createLogger, type Logger, type LoggerOptions } from '../../log/logger.js';

export interface ToolLoggerOptions extends Omit<LoggerOptions, 'destination'> {
  /** Readable coloured lines instead of JSON. @default true when stderr is a terminal */
  pretty?: boolean;
}

/**
 * The logger of fulcrum's processes: JSON lines on stderr when a program reads them, readable
 * lines when a person does. Both write synchronously, so a process that exits right after
 * logging loses nothing.
 */
export function toolLogger(options: ToolLoggerOptions = {}): Logger {
  const { pretty = process.stderr.isTTY === true, ...rest } = options;
  if (!pretty) return createLogger(rest);
  const destination = pinoPretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  return createLogger({ ...rest, destination });
}
