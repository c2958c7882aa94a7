import { LoginError } from '../errors.js';

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
  return e instanceof LoginError && e.code !== LOGIN_TIMEOUT && e.code !== LOGIN_CLOSED;
}
