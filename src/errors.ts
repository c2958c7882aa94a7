/** Base of every error fulcrum throws. Match on `code`, which is stable across releases. */
export class FulcrumError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller passed an option or argument that cannot work. */
export class InvalidArgumentError extends FulcrumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FULCRUM_INVALID_ARGUMENT', message, options);
  }
  static format(name: string, problem: string): InvalidArgumentError {
    return new InvalidArgumentError(`${name} ${problem}`);
  }
}

/** ZooKeeper did not answer within the connect timeout. */
export class ZkConnectTimeoutError extends FulcrumError {
  constructor(connect: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('FULCRUM_ZK_CONNECT_TIMEOUT', `ZooKeeper at ${connect} did not answer within ${timeoutMs} ms`, options);
  }
}

/**
 * A ZooKeeper operation failed. The only error ZkClient rejects with: `zkCode` is the native
 * return code (e.g. -101 NONODE, -103 BADVERSION), `cause` the native error.
 */
export class ZkError extends FulcrumError {
  readonly zkCode: number;
  readonly op: string;
  readonly path: string;
  constructor(op: string, path: string, zkCode: number, options?: { cause?: unknown; detail?: string }) {
    super('FULCRUM_ZK_OPERATION', `ZooKeeper ${op} ${path} failed: ${options?.detail ?? zkCode}`, options);
    this.zkCode = zkCode;
    this.op = op;
    this.path = path;
  }
}

/** Discovery found no server that can take a connection. */
export class NoServersError extends FulcrumError {
  constructor(root: string, options?: { cause?: unknown }) {
    super('FULCRUM_NO_SERVERS', `no live servers registered under ${root}`, options);
  }
}

/** Every candidate server refused or failed; `lastError` is the last failure seen. */
export class AllServersFailedError extends FulcrumError {
  readonly lastError: unknown;
  constructor(attempts: number, lastError: unknown) {
    super('FULCRUM_ALL_SERVERS_FAILED', `could not connect to any server after ${attempts} attempts`, { cause: lastError });
    this.lastError = lastError;
  }
}

/** A node under the root did not hold valid ServerData. */
export class MalformedServerDataError extends FulcrumError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('FULCRUM_MALFORMED_SERVER_DATA', `malformed server data: ${problem}`, options);
  }
}

/** A frame on the wire was too large or not decodable. */
export class ProtocolError extends FulcrumError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('FULCRUM_PROTOCOL', problem, options);
  }
}

/** An operation was attempted on something already closed. */
export class ClosedError extends FulcrumError {
  constructor(what: string) {
    super('FULCRUM_CLOSED', `${what} is closed`);
  }
}
