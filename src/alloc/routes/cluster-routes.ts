import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardPage } from '../dashboard-page.js';
import type { EventStream } from '../event-stream.js';
import { TooManyStreamsError } from '../http-errors.js';
import { wantsHtml } from '../http/http-app.js';
import { errorResponse, NAME, textResponse, type Schema } from '../http/schemas.js';

/** Longest `?key=` for sticky allocation. */
export const MAX_ALLOC_KEY_LENGTH = 256;

/** One server as `GET /servers` lists it. */
export interface ServerListing {
  name: string;
  ip: string;
  port: number;
  address: string;
  balance: number;
  /** Hand-outs of this service not yet reported by the server. */
  pending: number;
  maxConnections: number | null;
  draining: boolean;
  /** Epoch ms of the server's last write, when it publishes one. */
  updatedAt: number | null;
  startedAt: number | null;
  /** 'heartbeat' for servers registered over HTTP, 'native' for ZooKeeper clients. */
  source: 'heartbeat' | 'native';
  /** Present for heartbeat servers held by this service instance. */
  heartbeat?: { ttlMs: number; expiresAt: number; lastHeartbeatAt: number };
  /** What the client port accepts: `tcp` (raw frames), `ws` (WebSocket at /ws). */
  transports: string[];
  /** The client port speaks TLS (raw and wss). */
  tls: boolean;
  /** Where a WebSocket client connects (`ws://ip:port/ws`, `wss://…` with TLS); null when the server takes raw TCP only. */
  ws: string | null;
}

/** `GET /allocate`'s query after validation. */
export interface AllocateQuery {
  key?: string;
  user?: string;
}

/** `GET /allocate`'s answer: the server as `/servers` lists it, and for whom. */
export interface Allocation extends Pick<ServerListing, 'name' | 'ip' | 'port' | 'address' | 'balance' | 'pending' | 'maxConnections' | 'transports' | 'tls' | 'ws'> {
  strategy: string;
  user?: string;
  token?: string;
  tokenTtlMs?: number;
}

export interface Health {
  ok: true;
  zookeeper: { connected: boolean; sessionId: string | null };
  servers: number;
  heartbeatServers: number;
  messaging: { online: number; secret: boolean; history: string | null };
}

/** What the cluster routes answer with (the service's state; the routes only speak HTTP). */
export interface ClusterRoutesDeps {
  /** `ip:port,ip:port,…`, least-loaded first. */
  allocList(): string;
  servers(): ServerListing[];
  allocate(query: AllocateQuery, req: FastifyRequest): Promise<Allocation>;
  health(): Health;
  metrics(): Promise<{ contentType: string; text: string }>;
  events: EventStream;
  dashboard: DashboardPage;
}

const NULLABLE_INT: Schema = { type: ['integer', 'null'] };

const TRANSPORT_FIELDS: Record<string, Schema> = {
  transports: { type: 'array', items: { type: 'string' }, description: 'what the client port accepts: `tcp` (raw length-prefixed frames), `ws` (a WebSocket upgrade at `/ws`)' },
  tls: { type: 'boolean', description: 'the client port speaks TLS (raw frames and wss)' },
  ws: { type: ['string', 'null'], description: 'the WebSocket URL (`ws://ip:port/ws`, `wss://…` with TLS), null when the server takes raw TCP only' },
};

const LISTING: Schema = {
  type: 'object',
  required: ['name', 'ip', 'port', 'address', 'balance', 'pending', 'maxConnections', 'draining', 'updatedAt', 'startedAt', 'source', 'transports', 'tls', 'ws'],
  properties: {
    name: { type: 'string', description: 'the node name, `ip:port` (`[v6]:port`)' },
    ip: { type: 'string' },
    port: { type: 'integer' },
    address: { type: 'string', description: 'what a client connects to, `ip:port` (`[v6]:port`)' },
    balance: { type: 'integer', description: 'live connections the server reports' },
    pending: { type: 'integer', description: 'hand-outs of this service the server has not reported yet' },
    maxConnections: NULLABLE_INT,
    draining: { type: 'boolean' },
    updatedAt: { ...NULLABLE_INT, description: "epoch ms of the server's last write" },
    startedAt: NULLABLE_INT,
    source: { type: 'string', enum: ['heartbeat', 'native'] },
    ...TRANSPORT_FIELDS,
    heartbeat: {
      type: 'object',
      description: 'present for servers registered over HTTP with this service',
      required: ['ttlMs', 'expiresAt', 'lastHeartbeatAt'],
      properties: { ttlMs: { type: 'integer' }, expiresAt: { type: 'integer' }, lastHeartbeatAt: { type: 'integer' } },
    },
  },
};

const ALLOCATION: Schema = {
  description: 'one server for this caller, counted as a reservation until the server reports it',
  type: 'object',
  required: ['name', 'ip', 'port', 'address', 'balance', 'pending', 'maxConnections', 'strategy', 'transports', 'tls', 'ws'],
  properties: {
    name: { type: 'string' },
    ip: { type: 'string' },
    port: { type: 'integer' },
    address: { type: 'string' },
    balance: { type: 'integer' },
    pending: { type: 'integer' },
    maxConnections: NULLABLE_INT,
    strategy: { type: 'string', description: '`hash` with a key, else the configured strategy' },
    ...TRANSPORT_FIELDS,
    user: { type: 'string', description: 'the `user` asked for' },
    token: {
      type: 'string',
      description: 'a login token for `user`: only with a secret, and only for a request with the admin token or one the application’s `authorizeToken` hook accepts',
    },
    tokenTtlMs: { type: 'integer', description: 'lifetime of `token`' },
  },
};

const HEALTH: Schema = {
  description: 'service and ZooKeeper state',
  type: 'object',
  required: ['ok', 'zookeeper', 'servers', 'heartbeatServers', 'messaging'],
  properties: {
    ok: { type: 'boolean' },
    zookeeper: {
      type: 'object',
      required: ['connected', 'sessionId'],
      properties: { connected: { type: 'boolean' }, sessionId: { type: ['string', 'null'] } },
    },
    servers: { type: 'integer' },
    heartbeatServers: { type: 'integer' },
    messaging: {
      type: 'object',
      required: ['online', 'secret', 'history'],
      properties: {
        online: { type: 'integer' },
        secret: { type: 'boolean', description: 'whether the service has a messaging secret' },
        history: { type: ['string', 'null'], description: 'the message history store (`redis`, `memory`), null without history' },
      },
    },
  },
};

/** `/`, `/index.html`, `/servers`, `/allocate`, `/metrics`, `/events`, `/healthz`. */
export function clusterRoutes(app: FastifyInstance, d: ClusterRoutesDeps): void {
  const page = textResponse('the dashboard: one self-contained page (inline style and script, allowed by hash in its Content-Security-Policy)', 'text/html');
  const sendPage = (reply: FastifyReply) => reply.type('text/html; charset=utf-8').header('content-security-policy', d.dashboard.csp).send(d.dashboard.html);

  app.route({
    method: ['GET', 'HEAD'],
    url: '/',
    config: { metric: '/' },
    schema: {
      summary: 'Servers that can take a connection, least-loaded first; a browser (Accept: text/html) gets the dashboard',
      response: {
        200: {
          description: '`ip:port,ip:port,…` (IPv6 bracketed; empty when none), or the dashboard for `Accept: text/html`',
          content: { 'text/plain': { schema: { type: 'string' } }, 'text/html': { schema: { type: 'string' } } },
        },
      },
    },
    handler: async (req, reply) => (wantsHtml(req) ? sendPage(reply) : reply.type('text/plain; charset=utf-8').header('vary', 'Accept').send(d.allocList())),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/index.html',
    config: { metric: '/index.html' },
    schema: { summary: 'The dashboard: live chart, table, online users and a push form, fed by /events', response: { 200: page } },
    handler: async (_req, reply) => sendPage(reply),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/servers',
    config: { metric: '/servers' },
    schema: { summary: 'Every registered server', response: { 200: { description: 'every server, by name', type: 'array', items: LISTING } } },
    handler: async () => d.servers(),
  });

  app.route<{ Querystring: AllocateQuery }>({
    method: 'GET',
    url: '/allocate',
    config: { metric: '/allocate' },
    schema: {
      summary: 'Hand out one server; with `user`, also a login token when allowed',
      querystring: {
        type: 'object',
        properties: {
          key: { type: 'string', minLength: 1, maxLength: MAX_ALLOC_KEY_LENGTH, description: `1 to ${MAX_ALLOC_KEY_LENGTH} characters; the same key gets the same server (consistent hash)` },
          user: NAME,
        },
      },
      response: {
        200: ALLOCATION,
        503: errorResponse('no live server can take a connection (none, all draining, or all full); Retry-After: 1', ['FULCRUM_NO_SERVERS']),
      },
    },
    handler: async (req) => d.allocate(req.query, req),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/metrics',
    config: { metric: '/metrics' },
    schema: { summary: 'Prometheus metrics', response: { 200: textResponse('Prometheus text format 0.0.4', 'text/plain') } },
    handler: async (_req, reply) => {
      const m = await d.metrics();
      return reply.type(m.contentType).send(m.text);
    },
  });

  app.route({
    method: 'GET',
    url: '/events',
    config: { metric: '/events' },
    schema: {
      summary: 'Server-Sent Events: the whole picture on connect, then one event per change, at most 10 per second',
      response: {
        200: textResponse('`data:` lines, each one JSON payload {at, now, version, servers, spread, total, zookeeper, online}', 'text/event-stream'),
        503: errorResponse('already as many open streams as configured; Retry-After: 5', ['FULCRUM_ALLOC_TOO_MANY_STREAMS']),
      },
    },
    handler: async (req, reply) => {
      if (d.events.full) throw new TooManyStreamsError(d.events.clients);
      reply.hijack();
      d.events.attach(req.raw, reply.raw);
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/healthz',
    config: { metric: '/healthz' },
    schema: { summary: 'Service and ZooKeeper state', response: { 200: HEALTH } },
    handler: async () => d.health(),
  });
}
