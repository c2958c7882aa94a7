// Public surface of the allocation service; everything else in src/alloc is internal.
export {
  AllocService,
  DEFAULT_ALLOC_HOST,
  DEFAULT_ALLOC_PORT,
  DEFAULT_ALLOC_STRATEGY,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RESERVATION_TTL_MS,
  MAX_ALLOC_KEY_LENGTH,
  type AllocAddress,
  type AllocServiceOptions,
  type ServerListing,
} from './alloc-service.js';
export { AllocMetrics, METRIC_ROUTES, type AllocMetricsOptions, type AllocMetricsSources } from './alloc-metrics.js';
export { DASHBOARD_DIR, DashboardNotBuiltError, loadDashboard, type DashboardPage } from './dashboard-page.js';
export type { EventPayload, ServerSummary } from './event-payload.js';
export { DEFAULT_MAX_SSE_CLIENTS, DEFAULT_SSE_HEARTBEAT_MS, DEFAULT_SSE_MIN_INTERVAL_MS, EventStream } from './event-stream.js';
export { DEFAULT_HEARTBEAT_TTL_MS, MAX_HEARTBEAT_TTL_MS, MIN_HEARTBEAT_TTL_MS, type HeartbeatRequest } from './heartbeat-request.js';
export { DEFAULT_MAX_HEARTBEAT_SERVERS, HEARTBEAT_ID_PREFIX, HeartbeatRegistry, type HeartbeatResult } from './heartbeat-registry.js';
export * from './http-errors.js';
export { DEFAULT_MAX_BODY_BYTES, type TlsOptions } from './http/http-app.js';
export { adminToken, isAdmin, requireAdmin } from './admin-auth.js';
export { mayIssueToken, type AuthorizeToken, type TokenRequest } from './token-policy.js';
export {
  DEFAULT_MAX_MESSAGE_BODY_BYTES,
  MAX_ONLINE_LIMIT,
  MAX_PUSH_ACK_TIMEOUT_MS,
  MAX_PUSH_USERS,
  MIN_PUSH_ACK_TIMEOUT_MS,
} from './routes/messaging-routes.js';
