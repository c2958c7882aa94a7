import { LoginError } from '../errors.js';
import { WIRE_ERRORS } from '../protocol/messages.js';

export interface LoginOptions {
  user: string;
  /** A token from issueToken (or the allocation service); a function is called at every (re-)login. */
  token?: string | (() => string | Promise<string>);
}

/** No `welcome` in time, or the connection closed during the login: another server may do better. */
export const LOGIN_TIMEOUT = 'FULCRUM_LOGIN_TIMEOUT';
export const LOGIN_CLOSED = 'FULCRUM_LOGIN_CLOSED';

/**
 * A login the server refused with an `error` frame (a bad, expired, missing or other user's token,
 * a refusal by the application, a name it rejects): every server would refuse it again, so the
 * client stops instead of re-connecting.
 */
export function isFinalLoginError(e: unknown): e is LoginError {
  return e instanceof LoginError && !RETRYABLE.has(e.code);
}

/** Refusals another server, or a later try, may not repeat: the route store or the history store was unreachable, or the server failed. */
const RETRYABLE = new Set<string>([LOGIN_TIMEOUT, LOGIN_CLOSED, WIRE_ERRORS.routesUnavailable, WIRE_ERRORS.internal, WIRE_ERRORS.historyUnavailable]);
