// fulcrum's public API. Internals (runners, CLI, load tests) are not exported here.
import './balancing/index.js';

export * from './errors.js';
export { encodeServerData, decodeServerData, validateServerData, type ServerData } from './server-data.js';

export { ZkSession, rearmStreams, type ZkSessionEvents } from './zk/session.js';
export { connectZk, DEFAULT_SESSION_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, type ZkConnectOptions } from './zk/connect.js';
export { DEFAULT_ZK_CONNECT, parseConnectString } from './zk/connect-string.js';
export { DEFAULT_ROOT } from './zk/paths.js';
export { KeyedMutex, pathLocks } from './zk/keyed-mutex.js';

export { Registration, NodeConflictError, digestId, protectedAcl, type RegistrationOptions } from './registry/registration.js';
export { BalanceUpdater, DEFAULT_MIN_WRITE_INTERVAL_MS, type BalanceUpdaterOptions, type BalanceWriteStats } from './registry/balance-updater.js';
export { publishDelay, urgentReason, DEFAULT_PUBLISH_MAX_DELAY_MS, DEFAULT_PUBLISH_MIN_INTERVAL_MS, DEFAULT_SIGNIFICANT_CHANGE, DEFAULT_FIRST_CONNECTIONS, DEFAULT_LOWEST_BAND, type PublishState, type PublishContext, type PublishPolicyOptions } from './registry/publish-policy.js';

export { ServerCache, DEFAULT_RESYNC_INTERVAL_MS } from './discovery/server-cache.js';
export { readServers, ZkReadSource } from './discovery/read-servers.js';
export { makeSnapshot, addressOf, EMPTY_SNAPSHOT, type ServerInfo, type Snapshot, type ServerSource } from './discovery/snapshot.js';

export { registerStrategy, getStrategy, strategyNames, effectiveLoad, type Strategy, type PickContext } from './balancing/strategy.js';
export { DEFAULT_STRATEGY, least, p2c, roundRobin, random, hash, weighted } from './balancing/index.js';
export { BalanceProvider, type BalanceProviderOptions, type PickOptions } from './balancing/balance-provider.js';
export { PendingPicks, DEFAULT_PENDING_TTL_MS } from './balancing/pending-picks.js';

export { ClusterServer, ListenError, DEFAULT_HOST, DEFAULT_DRAIN_MS, type ClusterServerOptions, type ClusterServerStats } from './server/cluster-server.js';
export { pingHandler } from './server/ping-handler.js';
export { encodeFrame, FrameDecoder, DEFAULT_MAX_FRAME_BYTES, type PingMessage, type PongMessage } from './protocol/frames.js';

export { ClusterClient, backoffDelay, type ClusterClientOptions } from './client/cluster-client.js';
export { DownInstancePolicy, DEFAULT_QUARANTINE_MS } from './client/down-instance-policy.js';

export * from './alloc/index.js';
