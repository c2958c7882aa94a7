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
 * The native `zookeeper` addon is not a build of the source fulcrum patches on install
 * (patches/zookeeper+7.3.0.patch) or cannot be loaded at all. fulcrum refuses to run on it: the
 * 7.3.0 addon can silently stop the process's other sockets after a ZooKeeper reconnect.
 */
export class ZkAddonUnpatchedError extends FulcrumError {
  /** The `zookeeper` package directory that was loaded. */
  readonly addonDir: string;
  constructor(addonDir: string, problem: string, options?: { cause?: unknown }) {
    super(
      'FULCRUM_ZK_ADDON_UNPATCHED',
      `the zookeeper addon in ${addonDir} ${problem}; fulcrum runs only on the addon built from its patched source ` +
        '(see fulcrum/docs/zookeeper-addon-fd-patch.md). Install fulcrum with install scripts enabled, or run ' +
        '`npm rebuild zookeeper fulcrum` in the application (in a fulcrum checkout: `npm run postinstall`)',
      options,
    );
    this.addonDir = addonDir;
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

/** The server refused a login (or closed the socket with an `error` frame); `code` is the server's code, e.g. FULCRUM_TOKEN_EXPIRED. */
export class LoginError extends FulcrumError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** No route for the user: it is not logged in anywhere (as far as the routers know). */
export class UserOfflineError extends FulcrumError {
  readonly user: string;
  constructor(user: string) {
    super('FULCRUM_USER_OFFLINE', `user ${JSON.stringify(user)} is not online`);
    this.user = user;
  }
}

/** The message reached the user's connection but was not acknowledged in time. */
export class PushTimeoutError extends FulcrumError {
  readonly user: string;
  readonly server: string;
  readonly id: string;
  constructor(user: string, server: string, id: string, timeoutMs: number) {
    super('FULCRUM_PUSH_TIMEOUT', `user ${JSON.stringify(user)} on ${server} did not acknowledge message ${id} within ${timeoutMs} ms`);
    this.user = user;
    this.server = server;
    this.id = id;
  }
}

/** The message does not fit in one client frame (DEFAULT_MAX_FRAME_BYTES with its envelope). */
export class MessageTooLargeError extends FulcrumError {
  constructor(bytes: number, limit: number) {
    super('FULCRUM_MESSAGE_TOO_LARGE', `the message takes ${bytes} bytes; a client frame holds at most ${limit}`);
  }
}

/** A server's gateway could not be reached, refused our credentials or did not answer in time. */
export class GatewayUnavailableError extends FulcrumError {
  readonly server: string;
  constructor(server: string, problem: string, options?: { cause?: unknown }) {
    super('FULCRUM_GATEWAY_UNAVAILABLE', `gateway of ${server}: ${problem}`, options);
    this.server = server;
  }
}

/** The client's connection dropped (or there was none) before the server confirmed a request; `op` names it (e.g. `join lobby`). */
export class DisconnectedError extends FulcrumError {
  readonly op: string;
  constructor(op: string, options?: { cause?: unknown }) {
    super('FULCRUM_DISCONNECTED', `${op}: the connection dropped before the server confirmed it`, options);
    this.op = op;
  }
}

/** The server answered a client request (`join`, `leave`) with an `error` frame; `code` is the server's code. */
export class RequestRefusedError extends FulcrumError {
  readonly op: string;
  constructor(code: string, op: string, message: string) {
    super(code, `${op} refused: ${message}`);
    this.op = op;
  }
}

/** The server did not answer a client request in time (`FULCRUM_SEND_TIMEOUT` for send, `FULCRUM_REQUEST_TIMEOUT` otherwise). */
export class RequestTimeoutError extends FulcrumError {
  constructor(code: 'FULCRUM_SEND_TIMEOUT' | 'FULCRUM_REQUEST_TIMEOUT', op: string, timeoutMs: number) {
    super(code, `${op}: no answer within ${timeoutMs} ms`);
  }
}

/** The server closed this client on purpose (`kicked` frame); `reason` is the server's (`replaced`, `kicked`, …). The client does not reconnect. */
export class KickedError extends FulcrumError {
  readonly reason: string;
  constructor(reason: string) {
    super('FULCRUM_KICKED', `the server closed this connection on purpose: ${reason}`);
    this.reason = reason;
  }
}

/** The history store (Redis) did not answer, or failed: nothing was stored (a push is not sent), or a login could not read what it missed. */
export class HistoryUnavailableError extends FulcrumError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('FULCRUM_HISTORY_UNAVAILABLE', `message history: ${problem}`, options);
  }
}
