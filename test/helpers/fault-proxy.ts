import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

/** Control of the child-process TCP fault proxy (see zookeeper-guide.md §8). */
export interface FaultProxy {
  /** Point clients at `127.0.0.1:${port}`. */
  readonly port: number;
  /** Destroys every live connection: the client sees connection loss and reconnects. */
  cut(): Promise<void>;
  /** true drops both directions (partition), 'down' drops only responses, false heals. */
  blackhole(on: boolean | 'down'): Promise<void>;
  close(): Promise<void>;
}

/**
 * The proxy lives in the shared directory beside the checkout (`../shared` from the repo root,
 * where tests run), not in this repo; FULCRUM_FAULTPROXY overrides the path.
 */
export function faultProxyPath(): string {
  const p = process.env.FULCRUM_FAULTPROXY ?? resolve(process.cwd(), '../shared/zk-faultproxy.cjs');
  if (!existsSync(p)) throw new Error(`fault proxy not found at ${p} (run tests from the repo root or set FULCRUM_FAULTPROXY)`);
  return p;
}

/** Starts a proxy in a child process forwarding to 127.0.0.1:zkPort; always close() it. */
export function startProxy(zkPort: number): Promise<FaultProxy> {
  const mod = createRequire(import.meta.url)(faultProxyPath()) as { startProxy: (port: number) => Promise<FaultProxy> };
  return mod.startProxy(zkPort);
}
