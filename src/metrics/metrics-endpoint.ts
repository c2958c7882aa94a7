import { once } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ListenError } from '../server/cluster-server.js';

/** @default '127.0.0.1': metrics describe the host; expose them wider on purpose only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const METRICS_PATH = '/metrics';

export interface MetricsEndpointOptions {
  /** @default DEFAULT_METRICS_HOST ('127.0.0.1') */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
}

export interface MetricsEndpoint {
  /** `http://host:port/metrics` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * A minimal HTTP server answering `GET /metrics` with the registry's exposition; every other
 * path is 404 and every other method 405, both as JSON `{error:{code,message}}`.
 */
export async function serveMetrics(registry: Registry, options: MetricsEndpointOptions = {}): Promise<MetricsEndpoint> {
  const host = options.host ?? DEFAULT_METRICS_HOST;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) return sendError(res, 404, 'FULCRUM_METRICS_NOT_FOUND', `only ${METRICS_PATH} is served`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'FULCRUM_METRICS_METHOD', `${METRICS_PATH} answers GET`, { allow: 'GET, HEAD' });
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: Error) => sendError(res, 500, 'FULCRUM_METRICS_COLLECT', e.message),
    );
  });
  // Scrapers keep connections alive; they must not hold close() up.
  server.keepAliveTimeout = 5_000;
  try {
    server.listen({ host, port: options.port ?? 0 });
    await once(server, 'listening');
  } catch (cause) {
    throw new ListenError(`${host}:${options.port ?? 0} (metrics)`, { cause });
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${METRICS_PATH}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
