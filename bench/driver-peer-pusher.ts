// Pusher of the peer bench, one per side in its own process: what an application backend uses to
// reach users. fulcrum: the library Router (route table from ZooKeeper, the user's server's
// gateway, the client's ack). Socket.IO: a Socket.IO server instance with the same Redis adapter
// and no listener of its own — `io.to(userRoom).timeout().emitWithAck()` for a push (the adapter
// publishes it, the user's server emits it, the ack comes back through Redis), `io.to(room).emit()`
// for a room and `io.emit()` for a broadcast.
import { performance } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { Router } from '../src/messaging/router.js';
import { serveRequests } from './child-ipc.js';
import { withConcurrency } from './messaging.js';
import { sharedClockMs } from './shared-clock.js';
import { redisAdapter, userRoom } from './socketio-peer.js';

export type PusherTarget = { kind: 'fulcrum'; zk: string; root: string } | { kind: 'socketio'; redis: string };

/** How long a push waits for the client's ack on both sides. */
const ACK_TIMEOUT_MS = 5_000;
/** About 64 bytes on the wire with either encoding. */
const PAD = 'x'.repeat(48);

let push: Router | undefined;
let sio: Server | undefined;
let fanoutFailures = 0;

async function pushOne(user: string, n: number): Promise<void> {
  if (push) {
    await push.push(user, { n, pad: PAD }, { ackTimeoutMs: ACK_TIMEOUT_MS });
    return;
  }
  const acks = (await sio!.to(userRoom(user)).timeout(ACK_TIMEOUT_MS).emitWithAck('push', { n, pad: PAD })) as unknown[];
  if (acks.length !== 1) throw new Error(`push to ${user}: ${acks.length} acks`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

serveRequests({
  async init(m) {
    const t = m.target as PusherTarget;
    if (t.kind === 'fulcrum') {
      push = new Router({ zk: t.zk, root: t.root });
      await push.start();
    } else {
      sio = new Server({ adapter: redisAdapter(t.redis).adapter });
    }
    return process.pid;
  },
  /**
   * Waits until the pusher can reach `users` users: fulcrum, every route is in its table;
   * Socket.IO, every server's adapter (and its own) subscribed. False after `timeoutMs`.
   */
  async ready(m) {
    const deadline = Date.now() + (m.timeoutMs as number);
    while (Date.now() < deadline) {
      if (push ? push.routes.size === m.users : (await sio!.of('/').adapter.serverCount()) === (m.servers as number) + 1) return true;
      await sleep(25);
    }
    return false;
  },
  /**
   * `count` pushes to users picked by a fixed stride from `offset`, `inFlight` at a time, each
   * awaited until the client's ack: every push's send → ack time (ms) and the whole run's.
   */
  async push(m) {
    const users = m.users as number;
    const offset = m.offset as number;
    const latencies: number[] = [];
    let failed = 0;
    let firstError: string | undefined;
    const t0 = performance.now();
    await withConcurrency(Array.from({ length: m.count as number }, (_, i) => offset + i), m.inFlight as number, async (i) => {
      const s = performance.now();
      try {
        await pushOne(`u${(i * 7919) % users}`, i);
        latencies.push(performance.now() - s);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    });
    return { latencies, ms: performance.now() - t0, failed, firstError };
  },
  /** Publishes to `room` (a broadcast without one) and returns when it was sent, on the machine-wide clock. */
  fanout(m) {
    const room = m.room as string | undefined;
    const body = { n: 0, pad: PAD };
    const sentAt = sharedClockMs();
    if (push) void (room ? push.publish(room, body) : push.broadcast(body)).catch(() => fanoutFailures++);
    else if (room) sio!.to(room).emit('msg', body);
    else sio!.emit('msg', body);
    return sentAt;
  },
  failures() {
    return fanoutFailures;
  },
});
