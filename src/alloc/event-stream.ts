import type { IncomingMessage, ServerResponse } from 'node:http';

/** At most one event per this interval (≤ 10/s): a burst of balance changes becomes one event. */
export const DEFAULT_SSE_MIN_INTERVAL_MS = 100;
/** Comment line that keeps proxies from closing an idle stream. */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;
/** How long a browser waits before reconnecting after the stream broke. */
export const DEFAULT_SSE_RETRY_MS = 2_000;
/** Open streams the service keeps at most; more are refused with 503. */
export const DEFAULT_MAX_SSE_CLIENTS = 1_000;
/** A client that lets this much pile up unread is too slow to follow and gets dropped. */
export const MAX_SSE_BACKLOG_BYTES = 1 << 20;

export interface EventStreamOptions {
  /** Builds the event body at send time, so a throttled event carries the newest state. */
  payload: () => unknown;
  /** @default DEFAULT_SSE_MIN_INTERVAL_MS (100) */
  minIntervalMs?: number;
  /** @default DEFAULT_SSE_HEARTBEAT_MS (15000) */
  heartbeatMs?: number;
  /** @default DEFAULT_MAX_SSE_CLIENTS (1000) */
  maxClients?: number;
}

/**
 * Server-Sent Events fan-out: every client gets the full state on connect, then one event per
 * change, throttled. Per client only the response's 'close' listener exists, and it removes
 * the client, so a disconnect leaks nothing; the change source is subscribed once, by the owner.
 */
export class EventStream {
  private readonly clientSet = new Set<ServerResponse>();
  private readonly minIntervalMs: number;
  private readonly heartbeatMs: number;
  private readonly maxClients: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private throttleTimer: NodeJS.Timeout | undefined;
  private lastSentAt = 0;
  private sequence = 0;
  /** Events broadcast (not counting the initial one each client gets). */
  broadcasts = 0;

  constructor(private readonly options: EventStreamOptions) {
    this.minIntervalMs = Math.max(0, options.minIntervalMs ?? DEFAULT_SSE_MIN_INTERVAL_MS);
    this.heartbeatMs = Math.max(1_000, options.heartbeatMs ?? DEFAULT_SSE_HEARTBEAT_MS);
    this.maxClients = Math.max(1, options.maxClients ?? DEFAULT_MAX_SSE_CLIENTS);
  }

  get clients(): number {
    return this.clientSet.size;
  }

  get full(): boolean {
    return this.clientSet.size >= this.maxClients;
  }

  /** Turns the response into an event stream and sends the current state. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx would otherwise buffer the stream
      'X-Content-Type-Options': 'nosniff',
    });
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.clientSet.add(res);
    res.once('close', () => this.detach(res));
    res.write(`retry: ${DEFAULT_SSE_RETRY_MS}\n\n`);
    this.send(res, this.frame());
    this.heartbeatTimer ??= setInterval(() => this.heartbeat(), this.heartbeatMs).unref();
  }

  private detach(res: ServerResponse): void {
    this.clientSet.delete(res);
    if (this.clientSet.size === 0) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }

  /** Something changed: broadcast now, or once the throttle interval has passed. */
  notify(): void {
    if (this.throttleTimer || this.clientSet.size === 0) return;
    const wait = this.lastSentAt + this.minIntervalMs - Date.now();
    if (wait <= 0) {
      this.broadcast();
      return;
    }
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined;
      this.broadcast();
    }, wait);
    this.throttleTimer.unref();
  }

  private broadcast(): void {
    this.lastSentAt = Date.now();
    if (this.clientSet.size === 0) return;
    this.broadcasts++;
    const frame = this.frame();
    for (const res of this.clientSet) this.send(res, frame);
  }

  private frame(): string {
    // JSON has no raw newlines, so one data line holds the whole event.
    return `id: ${++this.sequence}\ndata: ${JSON.stringify(this.options.payload())}\n\n`;
  }

  private heartbeat(): void {
    for (const res of this.clientSet) this.send(res, `: keep-alive ${Date.now()}\n\n`);
  }

  private send(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_SSE_BACKLOG_BYTES) {
      res.destroy(); // 'close' detaches it
      return;
    }
    res.write(text);
  }

  /** Ends every stream and stops all timers. */
  close(): void {
    clearTimeout(this.throttleTimer);
    clearInterval(this.heartbeatTimer);
    this.throttleTimer = this.heartbeatTimer = undefined;
    for (const res of this.clientSet) res.end();
    this.clientSet.clear();
  }
}
