// The `/events` contract, shared by the service (which sends it) and the dashboard (which reads
// it in the browser): no imports, so the dashboard's DOM-only build can use it as it is.

/** One server as `/events` and the dashboard show it. */
export interface ServerSummary {
  name: string;
  ip: string;
  port: number;
  balance: number;
  draining: boolean;
  maxConnections: number | null;
}

/** One `/events` data payload: the whole picture, never a delta. */
export interface EventPayload {
  /** Epoch ms of the snapshot. */
  at: number;
  /** Epoch ms when the event was built. */
  now: number;
  version: number;
  servers: ServerSummary[];
  spread: number;
  total: number;
  zookeeper: { connected: boolean };
  /** Users with a route; `version` changes whenever the route table does. */
  online: { total: number; version: number };
}
