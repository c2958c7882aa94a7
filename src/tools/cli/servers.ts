import { readFileSync } from 'node:fs';
import { runCli, parseCli, intFlag, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP, UsageError, cliLogger, logLevelOf, HISTORY_OPTIONS, HISTORY_HELP, historyTarget, checkHistoryStore } from './args.js';
import { ServerRunner } from '../runner/server-runner.js';
import { caOf, TLS_OPTIONS, tlsOf } from './tls.js';
import { TOKEN_KEYS_HELP, TOKEN_KEYS_OPTIONS, tokenKeysOf } from './secret.js';
import { DEFAULT_HOST } from '../../server/cluster-server.js';
import { connectZk } from '../../zk/connect.js';
import { digestId } from '../../registry/registration.js';
import {
  DEFAULT_MAX_INBOUND_BYTES_PER_SECOND,
  DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_ROOMS_PER_CONNECTION,
  DEFAULT_WELCOME_TIMEOUT_MS,
  SESSION_LIMIT_RANGES,
  type SessionLimits,
} from '../../messaging/sessions/session-limits.js';

/** The per-connection limits and their flags. */
const LIMIT_FLAGS: readonly [flag: string, option: keyof SessionLimits][] = [
  ['max-queued-bytes', 'maxQueuedBytes'],
  ['max-rooms', 'maxRoomsPerConnection'],
  ['max-frames-per-second', 'maxInboundFramesPerSecond'],
  ['max-bytes-per-second', 'maxInboundBytesPerSecond'],
  ['welcome-timeout-ms', 'welcomeTimeoutMs'],
];

const HELP = `
usage: npm run servers -- --count N [options]

ServerRunner: starts N fulcrum servers, each in its own OS process, registered in ZooKeeper.
Runs until SIGINT/SIGTERM, then stops them all cleanly (node first, then sockets).

  --count N              number of servers (1-200)
  --host IP              address to listen on and advertise (default ${DEFAULT_HOST})
  --advertise IP         address to publish when --host is a wildcard such as 0.0.0.0
  --port-base P          server i listens on P+i (default: free ports)
  --metrics-port-base P  server i serves Prometheus metrics on http://HOST:(P+i)/metrics
                         (HOST is --host; 0 = free ports; default: no metrics)
  --max-connections C    refuse connections beyond C per server
  --drain-ms MS          spread closing client sockets over MS on shutdown (default 0)
  --no-rebalance         do not move clients away from a server holding clearly more than its
                         share (on by default: above mean +10 %, at most 20 moves/s per server,
                         connections younger than 5 s or migrated in the last 5 min stay)
  --digest USER:PASS     protect the server nodes and the root with digest ACLs: anyone reads,
                         only these credentials write, delete or register. Prefer the env
                         FULCRUM_DIGEST: a flag is visible to every user in ps.
  --secret-file PATH     messaging secret (first line of the file; env FULCRUM_SECRET otherwise):
                         logins need a token signed with it, gateway peers must prove it.
                         Without one, logins are accepted as claimed and the gateway stays on loopback.
  --gateway-host IP      address of the messaging gateway (default 127.0.0.1; another one needs a secret)
  --routes KIND          watched (default): each server keeps the whole route table from ZooKeeper;
                         on-demand: each keeps its own users and asks the others for the rest
  --tls-cert FILE        serve TLS on the client port (raw frames and wss) and the gateway: PEM
                         certificate (chain); needs --tls-key
  --tls-key FILE         PEM private key of --tls-cert
  --gateway-ca FILE      PEM CA certificate(s) trusted for the other servers' TLS gateways
                         (default: Node's CA roots)
  --no-websocket         raw framed TCP only (no WebSocket upgrade at /ws)
  --token-grace-ms MS    kick a connection whose token expired without a refresh this long after
                         the expiry (default 30000)
${TOKEN_KEYS_HELP}

Per-connection limits of the messaging protocol:
  --max-queued-bytes N   bytes waiting for a client's socket before it is kicked as slow
                         (default ${DEFAULT_MAX_QUEUED_BYTES}, at least ${SESSION_LIMIT_RANGES.maxQueuedBytes[0]})
  --max-rooms N          rooms one connection may be in; a join beyond is refused (default ${DEFAULT_MAX_ROOMS_PER_CONNECTION})
  --max-frames-per-second N
                         frames a connection may send per second, acks not counted; more closes
                         it with FULCRUM_RATE_LIMITED (default ${DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND})
  --max-bytes-per-second N
                         bytes a connection may send per second (default ${DEFAULT_MAX_INBOUND_BYTES_PER_SECOND},
                         at least ${SESSION_LIMIT_RANGES.maxInboundBytesPerSecond[0]})
  --welcome-timeout-ms MS
                         how long a login waits for its route to be stored in ZooKeeper before it
                         is refused with FULCRUM_ROUTES_UNAVAILABLE (default ${DEFAULT_WELCOME_TIMEOUT_MS})

${HISTORY_HELP}
${ZK_HELP}`;

runCli('servers', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    { ...ZK_OPTIONS, count: { type: 'string' }, host: { type: 'string' }, advertise: { type: 'string' }, 'port-base': { type: 'string' }, 'metrics-port-base': { type: 'string' }, 'max-connections': { type: 'string' }, 'drain-ms': { type: 'string' }, digest: { type: 'string' }, 'no-rebalance': { type: 'boolean' }, 'secret-file': { type: 'string' }, 'gateway-host': { type: 'string' }, 'max-queued-bytes': { type: 'string' }, 'max-rooms': { type: 'string' }, 'max-frames-per-second': { type: 'string' }, 'max-bytes-per-second': { type: 'string' }, 'welcome-timeout-ms': { type: 'string' }, ...TLS_OPTIONS, 'gateway-ca': { type: 'string' }, 'no-websocket': { type: 'boolean' }, 'token-grace-ms': { type: 'string' }, ...TOKEN_KEYS_OPTIONS, routes: { type: 'string' }, ...HISTORY_OPTIONS },
    HELP,
  );
  const history = historyTarget(values);
  const { zk, root } = zkTarget(values);
  const count = intFlag(values, 'count', undefined, 1, 200);
  const portBase = intFlag(values, 'port-base', 0, 0, 65535 - count);
  const metricsPortBase = values['metrics-port-base'] === undefined ? undefined : intFlag(values, 'metrics-port-base', undefined, 0, 65535 - count);
  if (metricsPortBase && portBase && metricsPortBase < portBase + count && portBase < metricsPortBase + count) {
    throw new UsageError(`--metrics-port-base ${metricsPortBase} overlaps the server ports ${portBase}-${portBase + count - 1}`);
  }
  const maxConnections = values['max-connections'] === undefined ? undefined : intFlag(values, 'max-connections', undefined, 0);
  const drainMs = intFlag(values, 'drain-ms', 0, 0, 600_000);
  const digest = values.digest ?? (process.env.FULCRUM_DIGEST || undefined);
  if (digest !== undefined) {
    try {
      digestId(digest);
    } catch {
      throw new UsageError(`--digest / FULCRUM_DIGEST must be user:password`);
    }
  }
  const limits: Partial<SessionLimits> = {};
  for (const [flag, option] of LIMIT_FLAGS) {
    if ((values as Record<string, unknown>)[flag] !== undefined) limits[option] = intFlag(values, flag, undefined, ...SESSION_LIMIT_RANGES[option]);
  }
  const log = cliLogger('servers', values);
  let secret = process.env.FULCRUM_SECRET || undefined;
  if (values['secret-file'] !== undefined) {
    try {
      secret = readFileSync(values['secret-file'], 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      throw new UsageError(`--secret-file: cannot read ${values['secret-file']} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!secret) throw new UsageError(`--secret-file: ${values['secret-file']} is empty`);
  }
  const routes = values.routes ?? 'watched';
  if (routes !== 'watched' && routes !== 'on-demand') throw new UsageError(`--routes must be watched or on-demand, got ${JSON.stringify(routes)}`);
  tokenKeysOf(values); // checked here; each server process reads the file itself (no key on a command line)
  const tokenGraceMs = values['token-grace-ms'] === undefined ? undefined : intFlag(values, 'token-grace-ms', undefined, 0, 86_400_000);
  tlsOf(values); // checked here: both or neither, PEM, the key of the certificate
  const gatewayCa = values['gateway-ca'];
  if (gatewayCa !== undefined) caOf('gateway-ca', gatewayCa);
  const tlsFiles = values['tls-cert'] ? { tlsCertFile: values['tls-cert'], tlsKeyFile: values['tls-key'] } : {};
  const gatewayHost = values['gateway-host'];
  if (gatewayHost !== undefined && secret === undefined && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(gatewayHost)) {
    throw new UsageError('--gateway-host other than loopback needs a secret (--secret-file or FULCRUM_SECRET)');
  }
  // Fail fast with a clear message rather than N children timing out one by one.
  (await connectZk({ connect: zk, connectTimeoutMs: 5_000, digest })).close();
  if (history) await checkHistoryStore(history.redis);
  // The servers' log lines are held back until all of them started: a failed start is one line
  // (the reason), not the start-up chatter of siblings that are being stopped again.
  let held: string[] | undefined = [];
  const onStderr = (_index: number, line: string) => (held ? held.push(line) : process.stderr.write(`${line}\n`));
  const runner = new ServerRunner({ count, zk, root, host: values.host ?? DEFAULT_HOST, advertise: values.advertise, portBase, metricsPortBase, maxConnections, drainMs, digest, logLevel: logLevelOf(values), logger: log, rebalance: !values['no-rebalance'], onStderr, secret, gatewayHost, ...tlsFiles, ...(gatewayCa ? { gatewayCaFile: gatewayCa } : {}), ...(values['no-websocket'] ? { websocket: false } : {}), ...(values['token-keys-file'] ? { tokenKeysFile: values['token-keys-file'] } : {}), ...(tokenGraceMs === undefined ? {} : { tokenGraceMs }), routes, history, ...limits });
  const servers = await runner.start();
  for (const line of held) process.stderr.write(`${line}\n`);
  held = undefined;
  for (const s of servers) console.log(`server ${s.index}  ${s.ip}:${s.port}  pid ${s.pid}  gateway :${s.gatewayPort}  node ${s.path}${s.metricsUrl ? `  metrics ${s.metricsUrl}` : ''}`);
  console.log(`${servers.length} servers registered under ${root}${digest ? ' (digest ACLs)' : ''}, rebalancing ${values['no-rebalance'] ? 'off' : 'on'}, ${values['no-websocket'] ? 'raw TCP only' : 'raw TCP and WebSocket at /ws'}${values['tls-cert'] ? ' over TLS' : ''}${history ? `, history in ${history.redis}` : ''}${secret ? ', messaging secret: tokens required' : ', no messaging secret: logins as claimed'}; Ctrl-C stops them`);
  const sig = await untilSignal();
  console.log(`${sig}: stopping ${servers.length} servers...`);
  await runner.stop();
  console.log('all servers stopped');
});
