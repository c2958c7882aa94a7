// Prometheus metrics of a ClusterServer and the /metrics endpoint: an entry point of its own
// ('fulcrum/metrics'), so the library itself pulls in neither prom-client nor node:http.

export { ServerMetrics, DEFAULT_ZK_WRITE_BUCKETS, type ServerMetricsOptions } from './server-metrics.js';
export { serveMetrics, DEFAULT_METRICS_HOST, METRICS_PATH, type MetricsEndpoint, type MetricsEndpointOptions } from './metrics-endpoint.js';
