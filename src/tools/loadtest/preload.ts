import net from 'node:net';
import type { ScenarioContext } from './scenario.js';

/**
 * Earlier load that did not come through the pickers under test (another region, a previous
 * wave): `step × i` raw connections on server i. Destroy the sockets to release it.
 */
export async function preloadServers(ctx: ScenarioContext, step: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (const s of ctx.servers.servers) {
    for (let k = 0; k < step * s.index; k++) {
      sockets.push(
        await new Promise<net.Socket>((resolve, reject) => {
          const sock = net.connect(s.port, s.ip, () => resolve(sock));
          sock.once('error', reject);
        }),
      );
    }
  }
  return sockets;
}
