import type { FastifyInstance } from 'fastify';
import type { HeartbeatRegistry } from '../heartbeat-registry.js';
import {
  canonicalIp,
  MAX_HEARTBEAT_TTL_MS,
  MIN_HEARTBEAT_TTL_MS,
  parseAddressOrUndefined,
  serverName,
  type Endpoint,
  type HeartbeatRequest,
} from '../heartbeat-request.js';
import { NotFoundError } from '../http-errors.js';
import { errorResponse, IP, PORT, type Schema } from '../http/schemas.js';

export interface HeartbeatRoutesDeps {
  heartbeats: HeartbeatRegistry;
  /** TTL of a heartbeat that names none. */
  defaultTtlMs: number;
}

/** The body as sent; `null` is how many JSON encoders write "absent". */
interface HeartbeatBody {
  ip: string;
  port: number;
  balance: number;
  maxConnections?: number | null;
  draining?: boolean | null;
  ttlMs?: number | null;
}

const COUNT: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

const HEARTBEAT: Schema = {
  description: 'a heartbeat; unknown fields are refused (a typo must not register balance 0)',
  type: 'object',
  additionalProperties: false,
  required: ['ip', 'port', 'balance'],
  properties: {
    ip: IP,
    port: PORT,
    balance: { ...COUNT, description: 'an integer >= 0: the live connections of the server, absolute (not a delta)' },
    maxConnections: { ...COUNT, type: ['integer', 'null'], description: 'an integer >= 0 or null: the most connections it takes' },
    draining: { type: ['boolean', 'null'], description: 'a boolean or null: true hands it out no more' },
    ttlMs: {
      type: ['integer', 'null'],
      minimum: MIN_HEARTBEAT_TTL_MS,
      maximum: MAX_HEARTBEAT_TTL_MS,
      description: `an integer between ${MIN_HEARTBEAT_TTL_MS} and ${MAX_HEARTBEAT_TTL_MS} or null: the node is deleted when no heartbeat arrives for this long (default: the service's, 10000)`,
    },
  },
};

const ENDPOINT: Schema = {
  description: 'the server to remove',
  type: 'object',
  additionalProperties: false,
  required: ['ip', 'port'],
  properties: { ip: IP, port: PORT },
};

const REMOVED: Schema = {
  description: 'the node was deleted before this answer',
  type: 'object',
  required: ['name', 'removed'],
  properties: { name: { type: 'string' }, removed: { type: 'boolean', const: true } },
};

const NOT_REGISTERED = errorResponse('this service holds no heartbeat registration of that name', ['FULCRUM_ALLOC_NOT_FOUND']);

function toRequest(b: HeartbeatBody, defaultTtlMs: number): HeartbeatRequest {
  return {
    ip: canonicalIp(b.ip),
    port: b.port,
    balance: b.balance,
    ttlMs: b.ttlMs ?? defaultTtlMs,
    ...(b.maxConnections == null ? {} : { maxConnections: b.maxConnections }),
    ...(b.draining ? { draining: true } : {}),
  };
}

/** `POST /register`, `POST /unregister`, `DELETE /register/{ip}:{port}`: servers that cannot speak ZooKeeper. */
export function heartbeatRoutes(app: FastifyInstance, d: HeartbeatRoutesDeps): void {
  const unregister = async (name: string) => {
    if (!(await d.heartbeats.unregister(name))) throw new NotFoundError(`heartbeat registration ${name}`);
    return { name, removed: true };
  };

  app.route<{ Body: HeartbeatBody }>({
    method: 'POST',
    url: '/register',
    config: { metric: '/register' },
    schema: {
      summary: 'A heartbeat: the service holds an ephemeral node for the server until heartbeats stop for ttlMs',
      body: HEARTBEAT,
      response: {
        200: {
          description: 'registered or updated; validated completely before anything touches ZooKeeper',
          type: 'object',
          required: ['name', 'expiresAt', 'ttlMs', 'created'],
          properties: {
            name: { type: 'string' },
            expiresAt: { type: 'integer', description: 'epoch ms after which the node is deleted unless another heartbeat arrives' },
            ttlMs: { type: 'integer' },
            created: { type: 'boolean', description: 'true when this heartbeat created the registration' },
          },
        },
        409: errorResponse("the name is held by a native server's own ZooKeeper session", ['FULCRUM_ALLOC_NAME_TAKEN']),
        429: errorResponse('the service already holds as many heartbeat registrations as configured', ['FULCRUM_ALLOC_TOO_MANY_REGISTRATIONS']),
        503: errorResponse('ZooKeeper is not reachable, so a new registration cannot be written; Retry-After: 1', ['FULCRUM_ALLOC_ZK_UNAVAILABLE']),
      },
    },
    handler: async (req) => d.heartbeats.heartbeat(toRequest(req.body, d.defaultTtlMs)),
  });

  app.route<{ Body: Endpoint }>({
    method: 'POST',
    url: '/unregister',
    config: { metric: '/unregister' },
    schema: { summary: 'Remove a heartbeat server at once (same as DELETE /register/{ip}:{port})', body: ENDPOINT, response: { 200: REMOVED, 404: NOT_REGISTERED } },
    handler: async (req) => unregister(serverName({ ip: canonicalIp(req.body.ip), port: req.body.port })),
  });

  app.route<{ Params: { address: string } }>({
    method: 'DELETE',
    url: '/register/:address(.+)',
    config: { metric: '/register' },
    schema: {
      summary: 'Remove a heartbeat server at once',
      params: {
        type: 'object',
        required: ['address'],
        properties: { address: { type: 'string', format: 'endpoint', description: 'ip:port or [ipv6]:port (a reachable address, port 1-65535)' } },
      },
      response: { 200: REMOVED, 404: NOT_REGISTERED },
    },
    handler: async (req) => unregister(serverName(parseAddressOrUndefined(req.params.address)!)),
  });
}
