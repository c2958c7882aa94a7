import type ZooKeeper from 'zookeeper';
import { ClientRunner, type ClientRunnerOptions } from '../../src/tools/runner/client-runner.js';
import { ServerRunner, type ServerRunnerOptions } from '../../src/tools/runner/server-runner.js';
import { ZkSession } from '../../src/zk/session.js';
import { withRoot } from './zk.js';

export interface RunnerFixtureOptions {
  /** Prefix of the fresh root's name. */
  label: string;
  /** Server processes and their settings; `zk`, `root` and `host` are the fixture's. */
  servers: Omit<ServerRunnerOptions, 'zk' | 'root' | 'host'>;
  /** Session timeout of the clients' session. @default the ZkSession default */
  sessionTimeoutMs?: number;
}

/** Server processes (started) and a client session (not yet started) on a fresh root of the test ZooKeeper. */
export interface RunnerFixture {
  connect: string;
  /** A raw handle for inspection. */
  zk: ZooKeeper;
  root: string;
  runner: ServerRunner;
  /** Session for the fixture's ClientRunners. */
  session: ZkSession;
  /** A ClientRunner on the fixture's session and root, stopped at teardown. */
  clients(opts: Omit<ClientRunnerOptions, 'session' | 'root'>): ClientRunner;
}

/** Runs `fn` with started server processes; clients, processes, session, root and handle are always torn down. */
export async function withRunner<T>(opts: RunnerFixtureOptions, fn: (f: RunnerFixture) => Promise<T>): Promise<T> {
  return withRoot(opts.label, async ({ connect, raw, root }) => {
    const runner = new ServerRunner({ ...opts.servers, zk: connect, root, host: '127.0.0.1' });
    const session = new ZkSession({ connect, sessionTimeoutMs: opts.sessionTimeoutMs });
    const started: ClientRunner[] = [];
    try {
      await runner.start();
      return await fn({
        connect,
        zk: raw,
        root,
        runner,
        session,
        clients(o) {
          const c = new ClientRunner({ ...o, session, root });
          started.push(c);
          return c;
        },
      });
    } finally {
      await Promise.all(started.map((c) => c.stop()));
      await runner.stop();
      session.close();
    }
  });
}
