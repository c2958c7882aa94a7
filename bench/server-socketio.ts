// The messaging peer: one Socket.IO v4 server process with the Redis adapter, written as a
// Socket.IO application would be. A middleware takes the user from the handshake's `auth`
// (logins are accepted as claimed, as fulcrum's are without a secret), the connection joins the
// user's room, a `join` event puts it in a room and is acknowledged. Pushes, room messages and
// broadcasts come from the pusher process through Redis pub/sub.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { serveRequests } from './child-ipc.js';
import { redisAdapter, userRoom } from './socketio-peer.js';

let io: Server | undefined;

serveRequests({
  /** Listens on a free loopback port; resolves with it once the adapter's Redis connections are up. */
  async listen(m) {
    const { adapter } = redisAdapter(m.redis as string);
    const httpServer = http.createServer();
    io = new Server(httpServer, { adapter, serveClient: false });
    io.use((socket, next) => {
      const user = (socket.handshake.auth as { user?: unknown }).user;
      if (typeof user !== 'string' || user === '') return next(new Error('auth.user missing'));
      socket.data.user = user;
      next();
    });
    io.on('connection', (socket) => {
      void socket.join(userRoom(socket.data.user as string));
      socket.on('join', (room: unknown, ack: unknown) => {
        if (typeof room === 'string') void socket.join(room);
        if (typeof ack === 'function') ack();
      });
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    return { port: (httpServer.address() as AddressInfo).port, pid: process.pid };
  },
  /** Connections this server holds. */
  stats() {
    return { clients: io?.engine.clientsCount ?? 0 };
  },
});
