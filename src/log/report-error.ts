import type { EventEmitter } from 'node:events';
import { defaultLogger, type Logger } from './logger.js';

/**
 * The one error policy of fulcrum's components: an `error` event when somebody listens for it,
 * otherwise a structured log line. Errors are never dropped, and never crash the process the
 * way an unheard `error` event would.
 */
export function reportError(source: EventEmitter, error: Error, logger: Logger | undefined, context: Record<string, unknown> = {}): void {
  if (source.listenerCount('error') > 0) {
    source.emit('error', error);
    return;
  }
  (logger ?? defaultLogger()).error({ ...context, err: error, code: (error as { code?: unknown }).code }, error.message);
}
