import { ClosedError, ZkError } from '../errors.js';
import { ZooKeeper } from './addon.js';

/** Flags, error codes and states of the native client. */
export const C = ZooKeeper.constants;

/** True when `e` is a ZkError with native code `code`. */
export function isZk(e: unknown, code: number): boolean {
  return e instanceof ZkError && e.zkCode === code;
}

/**
 * Codes after which the operation may or may not have been applied and the session may live on;
 * a ClosedError (no handle while the session is being replaced) counts too.
 */
export function isConnectionProblem(e: unknown): boolean {
  if (e instanceof ClosedError) return true;
  if (!(e instanceof ZkError)) return false;
  const c = e.zkCode;
  return c === C.ZCONNECTIONLOSS || c === C.ZOPERATIONTIMEOUT || c === C.ZSESSIONEXPIRED || c === C.ZINVALIDSTATE || c === C.ZCLOSING;
}
