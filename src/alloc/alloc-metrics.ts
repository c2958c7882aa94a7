import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ServerCacheStats } from '../discovery/server-cache.js';
import type { Snapshot } from '../discovery/snapshot.js';
import { mirroredCounter } from '../metrics/mirrored-counter.js';
import { spreadOf, totalConnections } from './cluster-view.js';

/** Where the metrics read the live state at scrape time (nothing is copied between scrapes). */
export interface AllocMetricsSources {
  snapshot: () => Snapshot;
  cacheStats: () => Readonly<ServerCacheStats>;
  pending: () => ReadonlyMap<string, number>;
  zkConnected: () => boolean;
  heartbeatServers: () => number;
  heartbeatExpired: () => number;
  sseClients: () => number;
  /** Users with a route (the messaging route table). @default none: reported as 0 */
  onlineUsers?: () => number;
}

export interface AllocMetricsOptions {
  /** Add prom-client's process metrics (CPU, memory, event-loop lag, GC). @default true */
  defaultMetrics?: boolean;
}

/** Route labels are a closed set, so a scan of random URLs cannot grow the label space. */
export const METRIC_ROUTES = ['/', '/index.html', '/servers', '/allocate', '/metrics', '/events', '/register', '/unregister', '/healthz', '/push', '/broadcast', '/rooms/{room}/publish', '/online', '/online/{user}', '/history/{user}', '/rooms/{room}/history', '/openapi.json', 'other'] as const;
export type MetricRoute = (typeof METRIC_ROUTES)[number];

/**
 * The service's Prometheus metrics, on a private Registry: two services in one process (or a
 * host application with its own metrics) never collide in the global registry.
 */
export class AllocMetrics {
  readonly registry = new Registry();
  readonly allocations: Counter<'strategy' | 'outcome'>;
  readonly httpRequests: Counter<'route' | 'status'>;
  readonly errors: Counter<'code'>;

  constructor(sources: AllocMetricsSources, options: AllocMetricsOptions = {}) {
    const registers = [this.registry];
    new Gauge({
      name: 'fulcrum_server_balance',
      help: 'Live connections each server reports in ZooKeeper.',
      labelNames: ['server'],
      registers,
      collect() {
        // Reset first: a server that left must disappear from the scrape, not keep its last value.
        this.reset();
        for (const s of sources.snapshot().servers) this.set({ server: s.name }, s.balance);
      },
    });
    new Gauge({
      name: 'fulcrum_server_pending_reservations',
      help: 'Allocations handed out for each server that it has not reported yet.',
      labelNames: ['server'],
      registers,
      collect() {
        this.reset();
        for (const [server, n] of sources.pending()) this.set({ server }, n);
      },
    });
    new Gauge({
      name: 'fulcrum_server_draining',
      help: '1 when the server is draining (not handed out).',
      labelNames: ['server'],
      registers,
      collect() {
        this.reset();
        for (const s of sources.snapshot().servers) this.set({ server: s.name }, s.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fulcrum_cluster_servers',
      help: 'Servers registered under the root.',
      registers,
      collect() {
        this.set(sources.snapshot().servers.length);
      },
    });
    new Gauge({
      name: 'fulcrum_cluster_connections',
      help: 'Sum of all servers\' balances.',
      registers,
      collect() {
        this.set(totalConnections(sources.snapshot()));
      },
    });
    new Gauge({
      name: 'fulcrum_cluster_spread',
      help: 'Max minus min balance over the servers that are not draining.',
      registers,
      collect() {
        this.set(spreadOf(sources.snapshot()));
      },
    });
    new Gauge({
      name: 'fulcrum_alloc_pending_reservations',
      help: 'Allocations handed out that no server has reported yet.',
      registers,
      collect() {
        let n = 0;
        for (const v of sources.pending().values()) n += v;
        this.set(n);
      },
    });
    // The cache keeps cumulative counts; mirror them.
    const cacheCounter = (name: string, help: string, key: keyof ServerCacheStats) => mirroredCounter(registers, name, help, () => sources.cacheStats()[key]);
    cacheCounter('fulcrum_zk_watch_events_total', 'ZooKeeper watch notifications the server cache received.', 'watchEvents');
    cacheCounter('fulcrum_zk_reads_total', 'get / get_children calls the server cache issued.', 'reads');
    cacheCounter('fulcrum_zk_resyncs_total', 'Full re-reads of the root by the server cache.', 'resyncs');
    cacheCounter('fulcrum_zk_malformed_total', 'Server nodes seen with malformed data.', 'malformed');
    new Gauge({
      name: 'fulcrum_zk_connected',
      help: '1 while the ZooKeeper session is connected; while 0 the service serves its last good picture.',
      registers,
      collect() {
        this.set(sources.zkConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fulcrum_online_users',
      help: 'Logged-in users in the route table, as this service sees it.',
      registers,
      collect() {
        this.set(sources.onlineUsers?.() ?? 0);
      },
    });
    new Gauge({
      name: 'fulcrum_alloc_heartbeat_registrations',
      help: 'Servers registered through HTTP heartbeats and held by this service.',
      registers,
      collect() {
        this.set(sources.heartbeatServers());
      },
    });
    new Counter({
      name: 'fulcrum_alloc_heartbeat_expired_total',
      help: 'Heartbeat servers removed because their heartbeats stopped.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.heartbeatExpired());
      },
    });
    new Gauge({
      name: 'fulcrum_alloc_sse_clients',
      help: 'Open /events streams.',
      registers,
      collect() {
        this.set(sources.sseClients());
      },
    });
    this.allocations = new Counter({
      name: 'fulcrum_alloc_allocations_total',
      help: 'Answers of /allocate by strategy and outcome (ok, no_servers).',
      labelNames: ['strategy', 'outcome'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'fulcrum_alloc_http_requests_total',
      help: 'HTTP requests by route and status code.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.errors = new Counter({
      name: 'fulcrum_alloc_errors_total',
      help: 'Error answers and background errors by stable error code.',
      labelNames: ['code'],
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.registry.clear();
  }
}
