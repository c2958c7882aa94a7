import { getStrategy, strategyNames } from '../../balancing/strategy-registry.js';
import { AllocService, DEFAULT_ALLOC_HOST, DEFAULT_ALLOC_PORT, DEFAULT_ALLOC_STRATEGY } from '../../alloc/alloc-service.js';
import { ZkSession } from '../../zk/session.js';
import { checkHistoryStore, cliLogger, HISTORY_HELP, HISTORY_OPTIONS, historyTarget, intFlag, parseCli, runCli, untilSignal, UsageError, ZK_HELP, ZK_OPTIONS, zkTarget } from './args.js';
import { SECRET_HELP, SECRET_OPTIONS, secretOf, TOKEN_KEYS_OPTIONS, tokenKeysOf } from './secret.js';
import { GATEWAY_CA_HELP, GATEWAY_CA_OPTIONS, gatewayTrustOf, TLS_HELP, TLS_OPTIONS, tlsOf } from './tls.js';

const HELP = `
usage: npm run alloc [-- options]

HTTP allocation service: GET / lists live servers least-loaded first (ip:port,ip:port,...),
GET /allocate hands out one server, GET /servers /metrics /events, POST /register for
HTTP-heartbeat servers; a browser on / gets the live dashboard. Messaging: POST /push,
/rooms/{room}/publish and /broadcast, GET /online[/{user}], DELETE /online/{user}.
GET /openapi.json describes every route. Ctrl-C stops it.

  --port N                       HTTP port (default ${DEFAULT_ALLOC_PORT}; 0 = any free port)
  --host ADDRESS                 address to listen on (default ${DEFAULT_ALLOC_HOST})
  --strategy NAME                /allocate strategy: ${strategyNames().join(', ')} (default ${DEFAULT_ALLOC_STRATEGY})
${SECRET_HELP}.
                                 With it, every route that changes something (push, publish,
                                 broadcast, kick, register, unregister) needs Authorization: Bearer
                                 <admin token>, and /allocate?user=U returns a login token to a request
                                 carrying it (to no other). Without it all routes are open to every
                                 process that reaches the service.
  --token-keys-file PATH --token-kid KID
                                 sign the login tokens of /allocate with this key of the file
                                 (a JSON object {"kid": "secret", …}) instead of the secret
${TLS_HELP}
${GATEWAY_CA_HELP}
${HISTORY_HELP}
                                 With it, POST /push answers 202 {stored: true} for a user offline or not
                                 acking in time, and GET /history/{user}, /rooms/{room}/history are served.
${ZK_HELP}`;

const OPTIONS = {
  ...ZK_OPTIONS,
  port: { type: 'string' },
  host: { type: 'string' },
  strategy: { type: 'string' },
  ...SECRET_OPTIONS,
  ...TLS_OPTIONS,
  ...GATEWAY_CA_OPTIONS,
  ...TOKEN_KEYS_OPTIONS,
  'token-kid': { type: 'string' },
  ...HISTORY_OPTIONS,
} as const;

runCli('alloc', async () => {
  const { values } = parseCli(process.argv.slice(2), OPTIONS, HELP);
  const { zk, root } = zkTarget(values);
  const port = intFlag(values, 'port', DEFAULT_ALLOC_PORT, 0, 65535);
  const host = values.host ?? DEFAULT_ALLOC_HOST;
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  const strategy = values.strategy ?? DEFAULT_ALLOC_STRATEGY;
  getStrategy(strategy); // a bad name is a usage error before anything connects
  const secret = secretOf(values);
  const tls = tlsOf(values);
  const gatewayTrust = gatewayTrustOf(values);
  const keys = tokenKeysOf(values);
  const kid = values['token-kid'];
  if ((keys === undefined) !== (kid === undefined)) throw new UsageError('--token-keys-file and --token-kid go together');
  if (keys && kid !== undefined && !Object.hasOwn(keys, kid)) throw new UsageError(`--token-kid: ${kid} is not a key of ${values['token-keys-file']}`);
  if (keys && secret === undefined) throw new UsageError('--token-keys-file needs a secret (--secret-file or FULCRUM_SECRET)');
  const tokenKey = keys && kid !== undefined ? { kid, secret: keys[kid]! } : undefined;
  const history = historyTarget(values);
  if (history) await checkHistoryStore(history.redis);
  const log = cliLogger('alloc', values);
  if (secret === undefined && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
    log.warn({ host }, 'no messaging secret: push, publish, broadcast, kick and register are open to anyone who reaches this address');
  }
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 5_000 });
  session.on('disconnected', () => log.warn('ZooKeeper connection lost; serving the last good picture'));
  session.on('reconnected', () => log.info('ZooKeeper reconnected'));
  session.on('expired', (code) => log.warn({ zkCode: code }, 'ZooKeeper session ended; replacing it'));
  const service = new AllocService({ session, root, port, host, strategy, logger: log, secret, tls, gatewayTrust, tokenKey, history });
  try {
    const { url } = await service.start();
    process.stdout.write(`fulcrum alloc: ${url} (ZooKeeper ${zk}, root ${root}, strategy ${strategy}${secret ? ', messaging secret: tokens and admin auth on' : ', no messaging secret'}${history ? `, history in ${history.redis}` : ''})\n`);
    log.info({ url, zk, root, strategy }, 'serving');
    await untilSignal();
  } finally {
    await service.close();
    session.close();
  }
});
