import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from '../../src/protocol/frames.js';
import { balancesExact, withServer } from '../helpers/server-fixture.js';
import { measured } from '../helpers/fault-util.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';
import { eventually } from '../helpers/eventually.js';
import { dataOf } from '../helpers/nodes.js';
import { closeSocket, openSocket, ping } from '../helpers/socket.js';

const FUZZ_SOCKETS = 1_000;
const WAVE = 100;
const GOOD_SOCKETS = 20;

/** True when `p` settles within `ms` (the timer is cleared either way). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), t]);
  } finally {
    clearTimeout(timer);
  }
}

function header(len: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(len >>> 0);
  return h;
}

/** One fuzz case: the bytes to send, and whether the server must close the socket because of them. */
function fuzzCase(rnd: () => number): { kind: string; chunks: Buffer[]; mustClose: boolean } {
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const ping = encodeFrame({ type: 'ping', seq: int(1, 1e6) });
  const split = (b: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; ) {
      const n = int(1, Math.max(1, b.length - i));
      out.push(b.subarray(i, i + n));
      i += n;
    }
    return out;
  };
  switch (int(0, 8)) {
    case 0:
      return { kind: 'random-bytes', chunks: split(bytes(int(1, 4096))), mustClose: false };
    case 1:
      return { kind: 'oversize-header', chunks: [header(int(DEFAULT_MAX_FRAME_BYTES + 1, 2 ** 32 - 1)), bytes(int(0, 64))], mustClose: true };
    case 2:
      return { kind: 'zero-length', chunks: [header(0)], mustClose: true };
    case 3:
      return { kind: 'truncated-ping', chunks: [ping.subarray(0, int(1, ping.length - 1))], mustClose: false };
    case 4:
      return { kind: 'truncated-body', chunks: [header(int(10, 60_000)), bytes(int(0, 9))], mustClose: false };
    case 5:
      return { kind: 'c1-body', chunks: [header(1), Buffer.from([0xc1])], mustClose: true };
    case 6:
      return { kind: 'undecodable-body', chunks: [header(3), Buffer.from([0xd9, 0x10, 0x41])], mustClose: true }; // str8 of 16 bytes, 1 given
    case 7:
      return { kind: 'ping-then-garbage', chunks: split(Buffer.concat([ping, bytes(int(1, 512))])), mustClose: false };
    default:
      return { kind: 'ping-byte-by-byte', chunks: [...ping].map((b) => Buffer.from([b])), mustClose: false };
  }
}

test('tcp input - hundreds of sockets sending random bytes, oversize, empty, undecodable and truncated frames: only they close, the balance stays exact and the server answers', () =>
  withServer({ label: 'fuzz' }, async ({ zk, root, server, open }) => {
    const seed = Number(process.env.FULCRUM_FUZZ_SEED ?? Date.now() % 1_000_000);
    measured('tcp input: fuzz seed (FULCRUM_FUZZ_SEED)', seed, '');
    const rnd = mulberry32(seed);
    const good: net.Socket[] = [];
    let goodClosed = 0;
    let pinging = true;
    let pongs = 0;
    let loop: Promise<void> | undefined;
    const kinds = new Map<string, number>();
    try {
      const port = server.endpoint!.port;
      for (let i = 0; i < GOOD_SOCKETS; i++) {
        const s = await open();
        s.on('close', () => goodClosed++);
        good.push(s);
      }
      // The good sockets keep talking all through the fuzz.
      loop = (async () => {
        let seq = 0;
        while (pinging) {
          await Promise.all(good.map((s) => ping(s, ++seq).then(() => pongs++)));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();

      let mustCloseTotal = 0;
      for (let done = 0; done < FUZZ_SOCKETS; done += WAVE) {
        const wave = await Promise.all(
          Array.from({ length: WAVE }, async () => {
            const c = fuzzCase(rnd);
            kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
            const s = await openSocket(port);
            s.on('error', () => {});
            const closed = new Promise<void>((r) => s.once('close', () => r()));
            for (const chunk of c.chunks) {
              if (s.destroyed) break;
              s.write(chunk);
              if (c.chunks.length > 1) await new Promise((r) => setImmediate(r));
            }
            // How the fuzzer leaves: half-close, reset, or stay until the end of the wave.
            const exit = rnd();
            if (exit < 0.3) s.end();
            else if (exit < 0.5) s.destroy();
            return { s, c, closed, exit };
          }),
        );
        for (const w of wave) {
          if (w.c.mustClose && w.exit >= 0.5) {
            mustCloseTotal++;
            // The server must close these by itself.
            const byServer = await within(w.closed, 5_000);
            assert.ok(byServer, `${w.c.kind}: the server closed the socket`);
          }
        }
        await Promise.all(wave.map((w) => closeSocket(w.s)));
      }
      measured('tcp input: fuzz cases', [...kinds].map(([k, n]) => `${k}=${n}`).join(' '));
      pinging = false;
      await loop;

      assert.ok(await eventually(() => server.connections.size === GOOD_SOCKETS, 10_000), `live ${server.connections.size}`);
      assert.ok(await balancesExact(zk, root, [server]), 'ZooKeeper holds the live count');
      assert.equal((await dataOf(zk, server.nodePath!))?.balance, GOOD_SOCKETS);
      assert.equal(goodClosed, 0, 'no good socket was closed');
      assert.ok(pongs >= GOOD_SOCKETS, `good sockets got ${pongs} pongs during the fuzz`);
      const fresh = await openSocket(server.endpoint!.port);
      assert.equal(await ping(fresh, 1), server.id, 'a new socket is answered');
      await closeSocket(fresh);
      const st = server.stats;
      assert.ok(st.protocolErrors >= mustCloseTotal, `protocol errors ${st.protocolErrors} >= ${mustCloseTotal}`);
      assert.equal(st.accepted, GOOD_SOCKETS + FUZZ_SOCKETS + 1);
      measured('tcp input: protocol errors / accepted', `${st.protocolErrors} / ${st.accepted}`);
    } finally {
      pinging = false;
      await loop?.catch(() => {});
    }
  }));
