// The fault proxy's child process: forwards 127.0.0.1:<listen port> to 127.0.0.1:<target port>
// and obeys cut/blackhole/close messages from its parent (src/tools/faults/fault-proxy.ts).
// It runs out of process on purpose: zk.close() blocks the test's event loop (a synchronous
// poll of up to 1.5 s), so an in-process proxy could not forward the close request meanwhile.
import net from 'node:net';

/**
 * What the proxy does with the bytes: forwards them (false), drops both directions (true) or only
 * server→client bytes ('down'), or holds both directions without losing any ('stall': a partition
 * as TCP sees it; they flow again on heal, unless an end closed its connection meanwhile).
 */
export type Blackhole = boolean | 'down' | 'stall';

/** What the parent can ask for. */
export type ProxyCommand = { op: 'cut' } | { op: 'blackhole'; arg: Blackhole } | { op: 'close' };

/** A command with its sequence number; answered with `{ id }` once done. */
export type ProxyRequest = { id: number } & ProxyCommand;

/** Messages to the parent: the listening port once, then one answer per request. */
export type ProxyMessage = { port: number } | { id: number };

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

function runProxy(targetPort: number): void {
  const send = (m: ProxyMessage) => process.send!(m);
  const pairs = new Set<Pair>();
  let holed: Blackhole = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    if (holed === 'stall') {
      client.pause();
      upstream.pause();
    }
    client.on('data', (b: Buffer) => {
      if (holed !== true) upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      if (holed !== true && holed !== 'down') client.write(b);
    });
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
  });
  const cut = () => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  server.listen(0, '127.0.0.1', () => send({ port: (server.address() as net.AddressInfo).port }));
  // The parent died or let go of us: nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (req: ProxyRequest) => {
    switch (req.op) {
      case 'cut':
        cut();
        break;
      case 'blackhole':
        holed = req.arg;
        for (const { client, upstream } of pairs) {
          if (holed === 'stall') {
            client.pause();
            upstream.pause();
          } else {
            client.resume();
            upstream.resume();
          }
        }
        break;
      case 'close':
        cut();
        server.close();
        send({ id: req.id });
        process.disconnect();
        return;
    }
    send({ id: req.id });
  });
}

const port = Number(process.argv[2]);
if (!process.send || !Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error('fault-proxy-process: run it through startProxy() in src/tools/faults/fault-proxy.ts, with the target port as argument');
  process.exit(2);
}
runProxy(port);
