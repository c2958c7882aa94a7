import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions, type onRequestHookHandler } from 'fastify';
import { requireAdmin } from '../admin-auth.js';
import type { MetricRoute } from '../alloc-metrics.js';
import {
  BadRequestError,
  HttpError,
  InternalError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../http-errors.js';
import { BAD_QUERY, parseQueryString, type ParsedQuery } from './query-string.js';
import { codesOf, errorResponse, FREE_OBJECT, type Schema } from './schemas.js';
import { schemaErrorFormatter, validatorCompiler } from './validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The `route` label of `fulcrum_alloc_http_requests_total`. */
    metric?: MetricRoute;
    /** Set on the routes that answer 405 for the methods a path does not have. */
    methodNotAllowed?: true;
    /** A read that needs the admin token too when a secret is set (it shows users' messages). */
    admin?: true;
  }
}

/** Largest request body the service reads unless a route says otherwise; heartbeats are ~100 bytes. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
/** A request (headers and body) must arrive within this; slow-loris clients are cut off. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Longest path parameter the router matches; names are at most 128 bytes, 384 characters encoded. */
const MAX_PARAM_LENGTH = 4_096;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const READS = new Set(['GET', 'HEAD']);

export interface TlsOptions {
  /** PEM certificate chain. */
  cert: string | Buffer;
  /** PEM private key. */
  key: string | Buffer;
}

export interface HttpAppOptions {
  /** With it, every mutating route needs the admin token (see admin-auth.ts). */
  secret?: string;
  /** Serve HTTPS with this certificate and key. @default plain HTTP */
  tls?: TlsOptions;
  /** @default DEFAULT_MAX_BODY_BYTES (16 KiB) */
  maxBodyBytes?: number;
  /** Counts every error answer by code (404s, 401s, malformed HTTP…). */
  countError: (code: string) => void;
  /** Counts every answer by route pattern and status, when its response closes. */
  countRequest: (route: MetricRoute, status: number) => void;
  /** 500s: a bug, logged with the request. */
  onInternalError: (e: unknown, req: FastifyRequest) => void;
  /** Adds the service's routes. */
  routes: (app: FastifyInstance) => void;
  /** OpenAPI `info`. */
  info: { title: string; version: string; description: string };
}

/** One served route as the OpenAPI document names it, e.g. `DELETE /register/{address}`. */
export interface RouteInfo {
  method: string;
  path: string;
}

/** The started app and every route it serves (the 405 answers excluded). */
export interface HttpApp {
  app: FastifyInstance;
  routes: readonly RouteInfo[];
}

/** `/register/:address(.+)` → `/register/{address}`, the OpenAPI spelling. */
function openapiPath(url: string): string {
  return url.replace(/:(\w+)(\([^)]*\))?/g, '{$1}');
}

/** The JSON error body every failure path uses. */
export function errorBody(err: HttpError): { error: { code: string; message: string; field?: string } } {
  const field = err instanceof BadRequestError ? err.field : undefined;
  return { error: { code: err.code, message: err.message, ...(field ? { field } : {}) } };
}

/** Anything thrown while answering, as the HttpError the client gets. */
function toHttpError(e: unknown, req: FastifyRequest): HttpError {
  if (e instanceof HttpError) return e;
  const f = e as Partial<FastifyError>;
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(req.routeOptions.bodyLimit ?? DEFAULT_MAX_BODY_BYTES);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError(req.headers['content-type']);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BadRequestError('request body was not received completely');
  }
  // The request stream failed (client went away mid-body): fastify reports it as a 400.
  if (f.statusCode === 400) return new BadRequestError('request body was not received completely');
  return new InternalError({ cause: e });
}

/** A browser asks for HTML; curl and the classic clients send `*\/*` or nothing. */
export function wantsHtml(req: FastifyRequest): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

function methodsOf(route: RouteOptions): string[] {
  return Array.isArray(route.method) ? [...route.method] : [route.method];
}

function hooksOf(h: RouteOptions['onRequest']): onRequestHookHandler[] {
  return h === undefined ? [] : Array.isArray(h) ? [...h] : [h as onRequestHookHandler];
}

/** Adds `codes` to the documented error answer `status` of a route schema. */
function document(schema: Schema, status: number, description: string, codes: string[]): void {
  const response = (schema.response ??= {}) as Record<string, Schema>;
  response[status] = errorResponse((response[status]?.description as string | undefined) ?? description, [...codesOf(response[status]), ...codes]);
}

/**
 * The allocation service's HTTP layer on fastify. Every route declares one JSON schema
 * (params, query, body, responses); this adds what all routes share, so no route can forget it:
 *
 * - a route that changes something (any method but GET/HEAD), or reads what only the admin may
 *   (`config.admin`), needs the admin token when a secret is set, checked before its body is read (401);
 * - a route with a body takes `application/json` only (415, before reading), at most its body
 *   limit (413), parsed as sent (no prototype stripping: the schema refuses unknown fields);
 * - validation failures become `400 FULCRUM_ALLOC_BAD_REQUEST` naming the field;
 * - another method on a known path is a 405 with `Allow`, an unknown path a 404, malformed HTTP a
 *   JSON 400/408/431 — and the OpenAPI document at `/openapi.json` lists all of it.
 */
export async function buildHttpApp(o: HttpAppOptions): Promise<HttpApp> {
  const app = Fastify({
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
    logger: false,
    exposeHeadRoutes: false, // HEAD is listed where it is served, nowhere else
    bodyLimit: o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    requestTimeout: DEFAULT_REQUEST_TIMEOUT_MS,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, querystringParser: parseQueryString },
    schemaErrorFormatter,
    clientErrorHandler: (err, socket) => onClientError(err, socket, o.countError),
    frameworkErrors: (err, _req, res) => {
      const e = err.code === 'FST_ERR_BAD_URL' ? new BadRequestError('path is not valid percent-encoding') : new InternalError({ cause: err });
      o.countError(e.code);
      const reply = res as unknown as FastifyReply;
      void reply.code(e.status).headers({ ...e.headers, connection: 'close' }).send(errorBody(e));
    },
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = Math.min(app.server.headersTimeout, DEFAULT_REQUEST_TIMEOUT_MS);
  app.setValidatorCompiler(validatorCompiler());

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string) as unknown);
    } catch {
      done(new BadRequestError('body is not valid JSON'), undefined);
    }
  });
  // Routes without a body ignore one (a DELETE with a stray body is not an error).
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: o.info,
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'base64url(HMAC-SHA256(secret, "fulcrum-admin\\n")), or the secret itself; required only when the service has a secret' } } },
    },
  });

  const adminGuard: onRequestHookHandler = async (req) => requireAdmin(req.headers.authorization, o.secret);
  const jsonGuard: onRequestHookHandler = async (req) => {
    const type = req.headers['content-type'];
    if (!type || !JSON_TYPE.test(type)) throw new UnsupportedMediaTypeError(type);
  };
  const queryGuard: onRequestHookHandler = async (req) => {
    const bad = (req.query as ParsedQuery)[BAD_QUERY];
    if (bad !== undefined) throw new BadRequestError(bad);
  };

  const paths = new Map<string, { methods: string[]; metric: MetricRoute | undefined }>();
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    if (route.config?.methodNotAllowed) return;
    const schema = (route.schema ??= {}) as Schema;
    const methods = methodsOf(route);
    const known = paths.get(route.url) ?? { methods: [], metric: route.config?.metric };
    known.methods.push(...methods);
    paths.set(route.url, known);
    routes.push(...methods.map((method) => ({ method, path: openapiPath(route.url) })));
    const guards: onRequestHookHandler[] = [];
    if (methods.some((m) => !READS.has(m)) || route.config?.admin) {
      guards.push(adminGuard);
      schema.security = [{ adminToken: [] }, {}];
      document(schema, 401, 'missing or wrong admin token (only when the service has a secret); answered before the body is read', ['FULCRUM_ALLOC_UNAUTHORIZED']);
    }
    if (schema.body !== undefined) {
      guards.push(jsonGuard);
      document(schema, 415, 'the body is not application/json', ['FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE']);
      document(schema, 413, `the body is larger than ${route.bodyLimit ?? o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`, ['FULCRUM_ALLOC_PAYLOAD_TOO_LARGE']);
    }
    if (schema.querystring !== undefined) guards.push(queryGuard);
    if (schema.body !== undefined || schema.querystring !== undefined || schema.params !== undefined) {
      document(schema, 400, 'invalid input; `field` names the offending one', ['FULCRUM_ALLOC_BAD_REQUEST']);
    }
    document(schema, 500, 'a bug; details are in the service log', ['FULCRUM_ALLOC_INTERNAL']);
    route.onRequest = [...guards, ...hooksOf(route.onRequest)];
  });

  // Every answer, whatever produced it, is counted once its response closes.
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.config?.metric ?? 'other';
    reply.raw.once('close', () => o.countRequest(route, reply.raw.statusCode));
    // Every answer describes the cluster right now; no cache may keep it.
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    // The router reads `*` and `http://host/path` as paths; only origin-form targets are served.
    if (!req.raw.url?.startsWith('/')) throw new BadRequestError('request target must be an absolute path');
  });

  app.setErrorHandler((e: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const err = toHttpError(e, req);
    o.countError(err.code);
    if (err.status === 500) o.onInternalError(e, req);
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply.code(err.status).headers(err.headers);
    // An unread (too large) body would otherwise be drained from a keep-alive socket.
    if (err instanceof PayloadTooLargeError || !req.raw.complete) void reply.header('connection', 'close');
    void reply.send(errorBody(err));
  });
  app.setNotFoundHandler(async (req) => {
    throw new NotFoundError(`route ${req.method} ${req.url.split('?')[0]}`);
  });

  let openapi = '';
  app.route({
    method: ['GET', 'HEAD'],
    url: '/openapi.json',
    config: { metric: '/openapi.json' },
    schema: {
      summary: 'This document: every route with its parameters, bodies, answers and error codes (OpenAPI 3.1)',
      response: { 200: { description: 'the OpenAPI document', ...FREE_OBJECT } },
    },
    handler: async (_req, reply) => reply.type('application/json; charset=utf-8').send(openapi),
  });
  o.routes(app);

  // Another method on a known path: 405 with Allow (registered last, so every method is known).
  for (const [url, { methods, metric }] of paths) {
    const others = app.supportedMethods.filter((m) => !methods.includes(m));
    if (others.length === 0) continue;
    const shown = openapiPath(url);
    app.route({
      method: others,
      url,
      config: { metric, methodNotAllowed: true },
      schema: { hide: true },
      handler: async (req) => {
        throw new MethodNotAllowedError(req.method, shown, methods);
      },
    });
  }
  await app.ready();
  openapi = JSON.stringify(app.swagger());
  return { app, routes };
}

/** Malformed HTTP never reaches a route; answer it in JSON too, then drop the socket. */
function onClientError(err: Error & { code?: string }, socket: Socket, countError: (code: string) => void): void {
  countError('FULCRUM_ALLOC_BAD_HTTP');
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooBig = err.code === 'HPE_HEADER_OVERFLOW';
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = tooBig ? '431 Request Header Fields Too Large' : timeout ? '408 Request Timeout' : '400 Bad Request';
  const error = tooBig
    ? { code: 'FULCRUM_ALLOC_HEADERS_TOO_LARGE', message: 'request headers too large' }
    : timeout
      ? { code: 'FULCRUM_ALLOC_REQUEST_TIMEOUT', message: 'request not received in time' }
      : { code: 'FULCRUM_ALLOC_BAD_HTTP', message: 'malformed HTTP request' };
  const body = JSON.stringify({ error });
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
