// Memory driver in its own process: holds many raw-TCP connections to one server port, each
// either logged in (`login` → `welcome`) or only proven alive (`ping` → `pong`, never logged in),
// from its own loopback address so several drivers together pass one address's ephemeral ports.
// Keeps nothing per connection but the socket once it is answered.
import net, { type Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from '../src/protocol/frames.js';
import { serveRequests } from './child-ipc.js';

const held: Socket[] = [];
const PING = encodeFrame({ type: 'ping', seq: 1 });
const OPEN_TIMEOUT_MS = 30_000;
const noop = () => {};

/** Resolves once the server answered the connection's first frame with `expect`. */
function openOne(port: number, localAddress: string, first: Buffer, expect: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress, noDelay: true });
    const dec = new FrameDecoder();
    const timer = setTimeout(() => s.destroy(new Error(`no ${expect} from :${port} within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
    const fail = (e?: Error) => {
      clearTimeout(timer);
      reject(e ?? new Error(`:${port} closed the connection before its ${expect}`));
    };
    s.once('error', fail);
    s.once('close', () => fail());
    s.once('connect', () => s.write(first));
    const onData = (chunk: Buffer) => {
      if (!dec.push(chunk).some((m) => (m as { type?: unknown }).type === expect)) return;
      clearTimeout(timer);
      s.removeAllListeners('data').removeAllListeners('error').removeAllListeners('close');
      s.on('error', noop);
      s.on('data', noop); // a later frame (none expected while idle) is read and dropped
      resolve(s);
    };
    s.on('data', onData);
  });
}

serveRequests({
  /**
   * Opens `n` connections to `port` from `localAddress`, `concurrency` in flight: users u<from> …
   * logged in when `login`, else connections that only ping. Fails on the first that could not.
   */
  async open(m) {
    const { port, n, from, login, localAddress } = m as { port: number; n: number; from: number; login: boolean; localAddress: string };
    let next = 0;
    await Promise.all(
      Array.from({ length: (m.concurrency as number | undefined) ?? 100 }, async () => {
        while (next < n) {
          const i = from + next++;
          const first = login ? encodeFrame({ type: 'login', user: `u${i}` }) : PING;
          held.push(await openOne(port, localAddress, first, login ? 'welcome' : 'pong'));
        }
      }),
    );
    return held.length;
  },
  closeAll() {
    for (const s of held.splice(0)) s.resetAndDestroy(); // RST: no TIME_WAIT left to crowd the next phase's ports
    return true;
  },
});
