import ZooKeeper from 'zookeeper';

/** Flags, error codes and states of the native client. */
export const C = ZooKeeper.constants;

/**
 * The native client rejects with plain Errors whose message starts with the code
 * ("-103 bad version"), or, for synchronous failures, ends with `result: "ZINVALIDSTATE -9"`.
 */
export function zkCode(e: unknown): number | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^(-?\d+) /.exec(msg) ?? /result: "\w+ (-?\d+)"$/.exec(msg);
  return m ? Number(m[1]) : undefined;
}

export function isZk(e: unknown, code: number): boolean {
  return zkCode(e) === code;
}

/** Codes after which the operation may or may not have been applied and the session may live on. */
export function isConnectionProblem(e: unknown): boolean {
  const c = zkCode(e);
  return c === C.ZCONNECTIONLOSS || c === C.ZOPERATIONTIMEOUT || c === C.ZSESSIONEXPIRED || c === C.ZINVALIDSTATE || c === C.ZCLOSING;
}
