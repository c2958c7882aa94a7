// Loaded with --import into the fan-out bench's "previous" server process only: puts back the
// delivery path before batching (f/history 939a794) — every frame goes to socket.write at once, the
// slow-reader bound reads socket.writableLength, a broadcast iterates the sessions through the
// everyone() generator — so both paths run side by side in one bench run. Never loaded by fulcrum.
import type { Socket } from 'node:net';
import { UserSessions } from '../src/messaging/sessions/user-sessions.js';
import { TcpConnection } from '../src/server/transport/tcp-connection.js';

Object.defineProperty(TcpConnection.prototype, 'write', {
  value: function write(this: { socket: Socket }, frame: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame);
  },
});
Object.defineProperty(TcpConnection.prototype, 'queuedBytes', {
  get(this: { socket: Socket }): number {
    return this.socket.writableLength;
  },
});
Object.defineProperty(UserSessions.prototype, 'deliverToEveryone', {
  value: function deliverToEveryone(this: UserSessions, frame: Buffer): number {
    let n = 0;
    for (const s of this.everyone()) if (this.deliver(s, frame)) n++;
    return n;
  },
});
