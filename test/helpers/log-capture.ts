import { createLogger, type Logger } from '../../src/log/logger.js';

/** A logger whose JSON lines land in `lines` (parsed), for asserting what was logged. */
export function captureLogger(level: 'warn' | 'info' | 'error' = 'warn'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ name: 'test', level, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { logger, lines };
}
