// The floor of the fan-out bench, in its own process with the server runner's Node flags: a plain
// net.Server that writes a prepared fulcrum `message` frame to every accepted socket — per round,
// one write per socket per turn (one frame, or several frames joined) — with no protocol around it.
import net from 'node:net';
import { once } from 'node:events';
import { serveRequests } from './child-ipc.js';
import { encodeFrame } from '../src/protocol/frames.js';

const sockets: net.Socket[] = [];
const noop = () => {};
const turn = () => new Promise((r) => setImmediate(r));

serveRequests({
  async listen() {
    const s = net.createServer((c) => {
      c.on('error', noop);
      c.setNoDelay(true);
      sockets.push(c);
    });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    return { port: (s.address() as net.AddressInfo).port, pid: process.pid };
  },
  connections() {
    return sockets.length;
  },
  /** `turns` turns, each writing `perWrite` frames of `body` to every socket in one write. */
  async write(m) {
    const frame = encodeFrame({ type: 'message', id: 'floor-1', body: m.body, broadcast: true });
    const chunk = Buffer.concat(Array.from({ length: m.perWrite as number }, () => frame));
    for (let t = 0; t < (m.turns as number); t++) {
      for (const s of sockets) s.write(chunk);
      await turn();
    }
    return frame.length;
  },
});
