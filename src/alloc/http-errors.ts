import { FulcrumError } from '../errors.js';

/**
 * An error the allocation service answers with: an HTTP status plus the stable `code` that
 * goes into the JSON body `{error:{code,message}}`. Callers match on `code`, never on text.
 */
export class HttpError extends FulcrumError {
  readonly status: number;
  /** Extra response headers (e.g. `Allow` for 405). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(code, message, options);
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/** A request body, query or path that cannot be understood. Nothing was changed. */
export class BadRequestError extends HttpError {
  /** The offending field, when there is one (e.g. `port`). */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(400, 'FULCRUM_ALLOC_BAD_REQUEST', message);
    this.field = field;
  }
  static field(name: string, problem: string): BadRequestError {
    return new BadRequestError(`${name} ${problem}`, name);
  }
}

/** The body was not JSON (`Content-Type` must be application/json). */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(got: string | undefined) {
    super(415, 'FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(got ?? '')}`);
  }
}

/** The body is larger than the service reads. */
export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number, what = 'request body') {
    super(413, 'FULCRUM_ALLOC_PAYLOAD_TOO_LARGE', `${what} exceeds ${limitBytes} bytes`);
  }
}

export class NotFoundError extends HttpError {
  constructor(what: string) {
    super(404, 'FULCRUM_ALLOC_NOT_FOUND', `${what} not found`);
  }
}

export class MethodNotAllowedError extends HttpError {
  constructor(method: string, path: string, allowed: readonly string[]) {
    super(405, 'FULCRUM_ALLOC_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; use ${allowed.join(', ')}`, {
      headers: { Allow: allowed.join(', ') },
    });
  }
}

/** A heartbeat for a name held by a native server (another ZooKeeper session). */
export class NameTakenError extends HttpError {
  constructor(name: string) {
    super(409, 'FULCRUM_ALLOC_NAME_TAKEN', `${name} is registered by a server's own session; it cannot also heartbeat here`);
  }
}

/** More heartbeat registrations than the service is configured to hold. */
export class TooManyRegistrationsError extends HttpError {
  constructor(limit: number) {
    super(429, 'FULCRUM_ALLOC_TOO_MANY_REGISTRATIONS', `the service already holds ${limit} heartbeat registrations`);
  }
}

/** ZooKeeper is not reachable, so a new registration cannot be written now; retry later. */
export class ZkUnavailableError extends HttpError {
  constructor(options?: { cause?: unknown }) {
    super(503, 'FULCRUM_ALLOC_ZK_UNAVAILABLE', 'ZooKeeper is not reachable; retry the heartbeat', { ...options, headers: { 'Retry-After': '1' } });
  }
}

/** The catch-all for a bug: reported as 500 without internals. */
export class InternalError extends HttpError {
  constructor(options?: { cause?: unknown }) {
    super(500, 'FULCRUM_ALLOC_INTERNAL', 'internal error', options);
  }
}

/** No registered server can take a connection now (none, all draining, or all full). */
export class NoServerAvailableError extends HttpError {
  constructor(root: string) {
    // Same code as the core NoServersError: one code for "nothing to connect to" everywhere.
    super(503, 'FULCRUM_NO_SERVERS', `no live server under ${root} can take a connection`, { headers: { 'Retry-After': '1' } });
  }
}

/** The service already streams to as many /events clients as it is configured for. */
export class TooManyStreamsError extends HttpError {
  constructor(limit: number) {
    super(503, 'FULCRUM_ALLOC_TOO_MANY_STREAMS', `already ${limit} open event streams`, { headers: { 'Retry-After': '5' } });
  }
}

/** A mutating endpoint without the admin bearer token (only when a secret is configured). */
export class UnauthorizedError extends HttpError {
  constructor(message: string) {
    super(401, 'FULCRUM_ALLOC_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': 'Bearer realm="fulcrum"' } });
  }
}

/** The user has no route: not logged in anywhere, as far as the routers know. Same code as the core UserOfflineError. */
export class UserOfflineHttpError extends HttpError {
  constructor(user: string, options?: { cause?: unknown }) {
    super(404, 'FULCRUM_USER_OFFLINE', `user ${JSON.stringify(user)} is not online`, options);
  }
}

/** The message was written to the user's connection but not acknowledged in time. */
export class PushTimeoutHttpError extends HttpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(504, 'FULCRUM_PUSH_TIMEOUT', message, options);
  }
}

/** The user's server could not be reached over its gateway; retry shortly (it may be re-homing). */
export class GatewayUnavailableHttpError extends HttpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, 'FULCRUM_GATEWAY_UNAVAILABLE', message, { ...options, headers: { 'Retry-After': '1' } });
  }
}

/** History on: the history store (Redis) did not take the message or answer the read; nothing was sent. Retry shortly. */
export class HistoryUnavailableHttpError extends HttpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, 'FULCRUM_HISTORY_UNAVAILABLE', message, { ...options, headers: { 'Retry-After': '1' } });
  }
}
