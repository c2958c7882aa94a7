// Doubles for the server's session layer in unit tests: a client connection that records what
// the server writes, and a route store whose writes ZooKeeper acknowledges when the test says so.
import type { Socket } from 'node:net';
import { FrameDecoder } from '../../src/protocol/frames.js';
import type { ClientConnection } from '../../src/server/transport/client-connection.js';
import type { RouteStore } from '../../src/messaging/sessions/client-protocol.js';

export type Frame = Record<string, unknown>;

/** A connection double: records what the server writes; `stalled` makes written bytes stay queued. */
export class FakeConnection implements ClientConnection {
  readonly written: Frame[] = [];
  queuedBytes = 0;
  stalled = false;
  paused = false;
  ended: number | undefined;
  readonly socket = {} as Socket;
  write(frame: Buffer): void {
    this.written.push(...(new FrameDecoder(1 << 20).push(frame) as Frame[]));
    if (this.stalled) this.queuedBytes += frame.length;
  }
  /** Written frames are recorded at once: nothing waits for the end of the turn. */
  flush(): void {}
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  end(lingerMs: number): void {
    this.ended = lingerMs;
  }
  destroy(): void {
    this.ended = 0;
  }
  get types(): unknown[] {
    return this.written.map((f) => f.type);
  }
}

/** A route store whose writes are acknowledged only when the test says so. */
export class HeldRoutes implements RouteStore {
  readonly routes = new Map<string, [number, number]>();
  private readonly waiting: (() => void)[] = [];
  set(user: string, since: number, seq: number): Promise<void> {
    this.routes.set(user, [since, seq]);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  delete(user: string): void {
    this.routes.delete(user);
  }
  /** ZooKeeper acknowledges every write so far. */
  ack(): void {
    for (const w of this.waiting.splice(0)) w();
  }
  get pending(): number {
    return this.waiting.length;
  }
}

