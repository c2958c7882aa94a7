// fulcrum's public API: what an application links. Tooling (src/tools: CLI, runners, load tests,
// the local ZooKeeper launcher) is not exported; the allocation service is its own entry point, 'fulcrum/alloc'.

export * from './errors.js';
export { backoffDelay, Backoff, type BackoffOptions } from './backoff.js';
export { encodeServerData, decodeServerData, validateServerData, type ServerData } from './server-data.js';

export { ZkSession, type ZkSessionEvents, type SupervisedSession, type SupervisedSessionEvent } from './zk/session.js';
export { WatchedFolder, type WatchedFolderOptions, type WatchedFolderStats, type FolderSink } from './zk/watched-folder.js';
export { connectZk, DEFAULT_SESSION_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, type ZkConnectOptions } from './zk/connect.js';
export { DEFAULT_ZK_CONNECT, parseConnectString } from './zk/connect-string.js';
export { DEFAULT_ROOT } from './zk/paths.js';
export { KeyedMutex, pathLocks } from './zk/keyed-mutex.js';

export { NativeZkClient, zkCodeOf, type ZkClient, type ZkStat, type ZkNode, type ZkAcl, type ZkWatchEvent, type ZkWatchListeners } from './zk/zk-client.js';

export { BalanceCounter } from './registry/balance-counter.js';
export { NodeWriter, minIntervalDelay, DEFAULT_MIN_WRITE_INTERVAL_MS, DEFAULT_MAX_CAS_TRIES, type NodeWriterOptions, type NodeWriterStats, type WriteOutcome, type WriteDelayContext, type DelayPolicy } from './registry/node-writer.js';
export { Registration, NodeConflictError, NodeRetryError, digestId, protectedAcl, type RegistrationOptions, type RegistrationState, type RegistrationEvents } from './registry/registration.js';
export { BalanceUpdater, type BalanceUpdaterOptions, type BalanceWriteStats } from './registry/balance-updater.js';
export { publishDelay, urgentReason, DEFAULT_PUBLISH_MAX_DELAY_MS, DEFAULT_PUBLISH_MIN_INTERVAL_MS, DEFAULT_SIGNIFICANT_CHANGE, DEFAULT_FIRST_CONNECTIONS, DEFAULT_LOWEST_BAND, type PublishState, type PublishContext, type PublishPolicyOptions } from './registry/publish-policy.js';

export { ServerCache, DEFAULT_RESYNC_INTERVAL_MS, CLIENT_MIN_READ_INTERVAL_MS } from './discovery/server-cache.js';
export { readServers, ZkReadSource } from './discovery/read-servers.js';
export { makeSnapshot, addressOf, EMPTY_SNAPSHOT, type ServerInfo, type Snapshot, type ServerSource, type DepartedServer } from './discovery/snapshot.js';

export { effectiveLoad, type Strategy, type PickContext } from './balancing/strategy.js';
export { BUILTIN_STRATEGIES, DEFAULT_STRATEGY, registerStrategy, getStrategy, strategyNames, least, p2c, roundRobin, random, hash, weighted, waterFill, createWaterFillStrategy, type WaterFillOptions } from './balancing/index.js';
export { BalanceProvider, type BalanceProviderOptions, type PickOptions } from './balancing/balance-provider.js';
export { PendingPicks, DEFAULT_PENDING_TTL_MS } from './balancing/pending-picks.js';

export { ClusterServer, ListenError, DEFAULT_HOST, DEFAULT_DRAIN_MS, GRACEFUL_CLOSE_MS, type ClusterServerOptions, type ClusterServerStats } from './server/cluster-server.js';
export { pingHandler } from './server/ping-handler.js';
export {
  Rebalancer,
  resolveRebalancerOptions,
  DEFAULT_REBALANCE_INTERVAL_MS,
  DEFAULT_REBALANCE_MAX_MOVES_PER_SECOND,
  DEFAULT_REBALANCE_MAX_IN_FLIGHT,
  DEFAULT_REBALANCE_MIN_CONNECTION_AGE_MS,
  DEFAULT_REBALANCE_MIGRATED_COOLDOWN_MS,
  DEFAULT_REBALANCE_MEMBERSHIP_SETTLE_MS,
  DEFAULT_REBALANCE_MIGRATE_TIMEOUT_MS,
  type RebalancerOptions,
  type RebalancerStats,
  type RebalanceHost,
} from './server/rebalancer.js';
export {
  planRebalance,
  isMovable,
  DEFAULT_REBALANCE_TRIGGER_RATIO,
  DEFAULT_REBALANCE_SETTLE_RATIO,
  DEFAULT_REBALANCE_MIN_EXCESS,
  type RebalancePlan,
  type PlanInput,
  type ConnectionInfo,
} from './server/rebalance-plan.js';
export { encodeFrame, FrameDecoder, isMigrate, DEFAULT_MAX_FRAME_BYTES, type PingMessage, type PongMessage, type MigrateMessage } from './protocol/frames.js';

export { ClusterClient, DEFAULT_MIGRATE_CLOSE_MS, DEFAULT_CLIENT_CONNECT_TIMEOUT_MS, type ClusterClientOptions, type ClusterClientEvents, type ClientState } from './client/cluster-client.js';
export { DownInstancePolicy, DEFAULT_QUARANTINE_MS } from './client/down-instance-policy.js';


// Messaging: users, routes, push / private send / rooms / broadcast, kick, tokens.
export { MAX_NAME_BYTES, WIRE_ERRORS, DELIVERY_CODES, KICK_REASONS, parseClientFrame, BadFrameError, isStreamPosition, type ClientFrame, type RefreshFrame, type RefreshedFrame, type MessageFrame, type MessageId, type WelcomeFrame, type JoinedFrame, type ErrorFrame, type SentFrame, type KickedFrame, type StreamPosition } from './protocol/messages.js';
export { isFinalLoginError, type LoginOptions } from './client/login.js';
export { DEFAULT_SEND_TIMEOUT_MS, DEFAULT_REFRESH_BEFORE_MS, type ReceivedMessage, type SendResult, type Recovery } from './client/messaging-session.js';
export { WsTransport, wsUrl } from './client/ws-transport.js';
export { transportsOf } from './server-data.js';
export { WS_PATH } from './server/transport/client-port.js';
export { TLS_HANDSHAKE_TIMEOUT_MS, type TlsServerOptions, type TlsClientOptions } from './server/transport/tls-options.js';
export { MessagingServer, DEFAULT_TOKEN_GRACE_MS, DEFAULT_GATEWAY_HOST, HistoryNotSharedError, type MessagingServerOptions, type MessagingServerStats, type MessagingServerEvents, type SessionEvent } from './messaging/messaging-server.js';
export {
  userStream,
  roomStream,
  resolveHistoryLimits,
  DEFAULT_USER_HISTORY_SIZE,
  DEFAULT_USER_HISTORY_TTL_MS,
  DEFAULT_ROOM_HISTORY_SIZE,
  DEFAULT_ROOM_HISTORY_TTL_MS,
  DEFAULT_HISTORY_META_TTL_MS,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  MAX_HISTORY_READ,
  type HistoryEngine,
  type HistoryEntry,
  type HistoryPage,
  type HistoryLimits,
  type HistoryLimitOptions,
  type StreamLimits,
  type StreamKind,
  type StreamRef,
  type NewEntry,
  type ReadFrom,
  type ReadOptions,
  type AppendOptions,
  type AckedCursor,
} from './messaging/history/history-engine.js';
export { MemoryHistory } from './messaging/history/memory-history.js';
export { RedisHistory, streamKeys, DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_COMMAND_TIMEOUT_MS, type RedisHistoryOptions, type RedisTarget } from './messaging/history/redis-history.js';
export { type HistoryOptions } from './messaging/history/history-options.js';
export { DEFAULT_ACK_FLUSH_MS } from './messaging/history/ack-cursors.js';
export { type HistoryDeliveryStats } from './messaging/sessions/history-delivery.js';
export { type Authorize, type AuthorizeRequest, type AuthorizeAction } from './messaging/sessions/client-protocol.js';
export {
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_ROOMS_PER_CONNECTION,
  DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND,
  DEFAULT_MAX_INBOUND_BYTES_PER_SECOND,
  DEFAULT_WELCOME_TIMEOUT_MS,
  type SessionLimitOptions,
} from './messaging/sessions/session-limits.js';
export { type ClientConnection } from './server/transport/client-connection.js';
export { Router, DEFAULT_REDELIVERY_WINDOW_MS, DEFAULT_MAX_REDELIVERIES, DEFAULT_ACK_TIMEOUT_MS, DEFAULT_ONLINE_LIMIT, MAX_MESSAGE_BYTES, DEFAULT_PUSH_CONCURRENCY, DEFAULT_FANOUT_CONCURRENCY, type RouterOptions, type PushOptions, type PushResult, type DeliveredPush, type StoredPush, type PushManyEntry, type FanoutResult, type OnlineUser, type OnlineQuery, type RouteViewKind, type LocalGateway } from './messaging/router.js';
export { issueToken, checkToken, TokenVerifier, DEFAULT_TOKEN_TTL_MS, type TokenKeys, type SigningKey, type TokenCheck } from './messaging/token.js';
export { RouteTable, DEFAULT_LOOKUP_TIMEOUT_MS, type RouteTableOptions, type RouteTableStats } from './messaging/routes/route-table.js';
export { RouteLookup, DEFAULT_ROUTE_CACHE_SIZE, type RouteLookupOptions, type RouteLookupStats } from './messaging/routes/route-lookup.js';
export type { RouteView, RouteViewEvents } from './messaging/routes/route-view.js';
export { routesRootOf, type Route } from './messaging/routes/route.js';
export { compareLogins, nextLogin, type LoginOrder } from './messaging/login-order.js';
export { RouteShards, ShardTooLargeError, DEFAULT_MAX_USERS_PER_SHARD, MAX_SHARD_BYTES, SHARD_HARD_LIMIT_BYTES, MAX_SHARD_COUNT, type RouteShardsOptions } from './messaging/routes/route-shards.js';
