import { runCli, parseCli, intFlag, zkTarget, untilSignal, ZK_OPTIONS, ZK_HELP, UsageError, cliLogger, logLevelOf } from './args.js';
import { ServerRunner } from '../runner/server-runner.js';
import { DEFAULT_HOST } from '../../server/cluster-server.js';
import { connectZk } from '../../zk/connect.js';
import { digestId } from '../../registry/registration.js';

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
  --digest USER:PASS     protect the server nodes and the root with digest ACLs: anyone reads,
                         only these credentials write, delete or register. Prefer the env
                         FULCRUM_DIGEST: a flag is visible to every user in ps.
${ZK_HELP}`;

runCli('servers', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    { ...ZK_OPTIONS, count: { type: 'string' }, host: { type: 'string' }, advertise: { type: 'string' }, 'port-base': { type: 'string' }, 'metrics-port-base': { type: 'string' }, 'max-connections': { type: 'string' }, 'drain-ms': { type: 'string' }, digest: { type: 'string' } },
    HELP,
  );
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
  const log = cliLogger('servers', values);
  // Fail fast with a clear message rather than N children timing out one by one.
  (await connectZk({ connect: zk, connectTimeoutMs: 5_000, digest })).close();
  const runner = new ServerRunner({ count, zk, root, host: values.host ?? DEFAULT_HOST, advertise: values.advertise, portBase, metricsPortBase, maxConnections, drainMs, digest, logLevel: logLevelOf(values), logger: log });
  const servers = await runner.start();
  for (const s of servers) console.log(`server ${s.index}  ${s.ip}:${s.port}  pid ${s.pid}  node ${s.path}${s.metricsUrl ? `  metrics ${s.metricsUrl}` : ''}`);
  console.log(`${servers.length} servers registered under ${root}${digest ? ' (digest ACLs)' : ''}; Ctrl-C stops them`);
  const sig = await untilSignal();
  console.log(`${sig}: stopping ${servers.length} servers...`);
  await runner.stop();
  console.log('all servers stopped');
});
