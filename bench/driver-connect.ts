// Connect-rate driver in its own process: `total` connects with `concurrency` in flight. Each
// sends a ping and waits for the pong before it resets (RST: no TIME_WAIT pile-up): a connect is
// counted only once the server accepted it and answered. Counting at the kernel's handshake
// instead lets the driver outrun accept(), overflow the listen queue and wait out 1 s SYN
// retransmits, which is what capped earlier runs near 2,840 conn/s.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeFrame, FrameDecoder, isPong } from '../src/protocol/frames.js';
import { serveRequests } from './child-ipc.js';

const PING = encodeFrame({ type: 'ping', seq: 1 });

export interface ConnectRound {
  rate: number;
  /** Connects that took over 900 ms: a dropped SYN waits out the 1 s initial retransmit timeout. */
  synStalls: number;
}

/** `handshake`: count at the kernel's handshake (the old method, kept to show its cap); `pong`: count once answered. */
async function driveConnects(port: number, total: number, concurrency: number, until: 'pong' | 'handshake'): Promise<ConnectRound> {
  let started = 0;
  let synStalls = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        const c0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => {
            if (until === 'pong') {
              s.write(PING);
              return;
            }
            s.resetAndDestroy();
            resolve();
          });
          const dec = new FrameDecoder();
          s.on('data', (chunk: Buffer) => {
            if (!dec.push(chunk).some(isPong)) return;
            s.resetAndDestroy();
            resolve();
          });
          s.once('error', reject);
        });
        if (performance.now() - c0 > 900) synStalls++;
      }
    }),
  );
  return { rate: total / ((performance.now() - t0) / 1000), synStalls };
}

serveRequests({
  connects: (m) => driveConnects(m.port as number, m.total as number, m.concurrency as number, (m.until as 'pong' | 'handshake' | undefined) ?? 'pong'),
});
