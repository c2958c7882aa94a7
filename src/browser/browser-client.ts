// The browser client (`fulcrum/browser`): allocation over HTTP, then fulcrum frames over a
// WebSocket. Browser APIs only (fetch, WebSocket, timers); MessagePack by msgpackr's browser build.
import { C1, Packr, Unpackr } from 'msgpackr';
import type { ErrorFrame, KickedFrame, MessageFrame, MessageId, RefreshedFrame, SentFrame, WelcomeFrame } from '../protocol/messages.js';

/** @default 5000: allocation, WebSocket open and login must each finish within this. */
export const BROWSER_CONNECT_TIMEOUT_MS = 5_000;
/** @default 10000: join, leave, send and refresh give up waiting for the server after this. */
export const BROWSER_REQUEST_TIMEOUT_MS = 10_000;
/** Re-connect delays: exponential from this, with full jitter… @default 250 */
export const BROWSER_BACKOFF_BASE_MS = 250;
/** …up to this. @default 10000 */
export const BROWSER_BACKOFF_MAX_MS = 10_000;
/** A token is refreshed this long before it expires (or halfway through its remaining life if sooner). @default 60000 */
export const BROWSER_REFRESH_BEFORE_MS = 60_000;

/** Login refusals another server or a later try may not repeat; every other `error` code answering a login is final. */
const RETRYABLE_LOGIN_CODES = new Set(['FULCRUM_ROUTES_UNAVAILABLE', 'FULCRUM_INTERNAL']);

/** Where to connect: the WebSocket URL, and a login token when the allocation brought one. */
export interface Allocation {
  url: string;
  token?: string;
}

export interface BrowserClientOptions {
  /** The user to log in as (again after every re-connect). */
  user: string;
  /**
   * The allocation service: `GET {allocUrl}allocate?user=U` picks the server (its answer's `ws`
   * URL) and may carry a login token. Relative URLs resolve against the page. @default '/'
   */
  allocUrl?: string;
  /** Headers for the allocation request (e.g. `authorization`). @default none */
  allocHeaders?: Record<string, string>;
  /** Your own way to pick a server instead of the allocation service. */
  allocate?: (user: string) => Promise<Allocation>;
  /**
   * The login token, or a function asked at every login and before the token expires (refresh).
   * @default the token of the allocation answer, when it has one
   */
  token?: string | (() => string | Promise<string>);
  /** Fields added to every `login` frame (the seam for history recovery positions). @default none */
  loginFields?: () => Record<string, unknown>;
  /** Acknowledge every message once the listeners ran. @default true */
  autoAck?: boolean;
  /** Re-connect (with backoff) when the connection drops. @default true */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  refreshBeforeMs?: number;
}

/**
 * `idle` → `connecting` → `connected`; a drop → `reconnecting` (backoff) → `connecting`; a final
 * refusal or a kick → `stopped` (connect() again to retry); close() → `closed` for good.
 */
export type BrowserClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'closed';

/** A message pushed to this client. */
export type BrowserMessage = Omit<MessageFrame, 'type'> & Record<string, unknown>;

export interface BrowserClientEvents {
  state: BrowserClientState;
  /** Logged in (after each connect and re-connect): the server id from `welcome`, the URL. */
  connected: { server: string; url: string; expiresAt?: number };
  message: BrowserMessage;
  /** The connection dropped; `reconnect` says whether the client tries again. */
  disconnected: { reconnect: boolean };
  /** The server sent `kicked`: `replaced` and `kicked` stop the client, `slow` and `expired` re-connect. */
  kicked: { reason: string };
  /** The client stopped: a final login refusal (`code`) or a kick. */
  stopped: { code: string; message: string };
  refreshed: { expiresAt?: number };
  /** A failure that is nobody's answer (a failed re-connect round, a failed automatic refresh). */
  error: Error;
}

/** A request the server refused (`code` is its error code). */
export class RefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RefusedError';
  }
}

type Listener<T> = (value: T) => void;
/** A place in a message stream (servers with history): `offset` counts its messages, `epoch` names its storage. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}
type Pending = { kind: 'confirm' | 'refresh'; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout>; seq?: number };

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

function isFrame<T extends { type: string }>(m: unknown, type: T['type']): m is T {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
}

/** One connection attempt's socket with its decoded frames. */
class Link {
  readonly ws: WebSocket;
  onFrame: (m: unknown) => void = () => {};
  onClose: () => void = () => {};
  constructor(readonly url: string) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onmessage = (ev: MessageEvent) => {
      if (!(ev.data instanceof ArrayBuffer)) return this.ws.close(1003);
      let m: unknown;
      try {
        m = unpackr.unpack(new Uint8Array(ev.data));
      } catch {
        return this.ws.close(1007);
      }
      if (m !== C1) this.onFrame(m);
    };
    this.ws.onclose = () => this.onClose();
  }
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  send(frame: object): boolean {
    if (!this.open) return false;
    this.ws.send(packr.pack(frame));
    return true;
  }
  close(): void {
    this.ws.close(1000);
  }
}

/**
 * A fulcrum client for web pages: finds a server through the allocation service, connects over
 * WebSocket, logs in, acks what it receives, sends, joins and leaves rooms, refreshes its token,
 * follows `migrate`, and re-connects with backoff (logging in and joining its rooms again).
 */
export class BrowserClient {
  private phase: BrowserClientState = 'idle';
  private link: Link | undefined;
  private readonly listeners = new Map<keyof BrowserClientEvents, Set<Listener<never>>>();
  private readonly joined = new Set<string>();
  private readonly pending: Pending[] = [];
  private readonly sends = new Map<MessageId, Pending>();
  private attempt: Promise<string> | undefined;
  private failures = 0;
  private seq = 0;
  private sendSeq = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private allocatedToken: string | undefined;
  /** The last message received in the user's own stream and in each room's (servers with history put `epoch`/`offset` on messages). */
  private userPosition: StreamPosition | undefined;
  private readonly roomPositions = new Map<string, StreamPosition>();
  /** When the current login's token expires (epoch ms), as the server said. */
  expiresAt: number | undefined;
  /** The server id of the current connection. */
  server: string | undefined;

  constructor(private readonly options: BrowserClientOptions) {
    if (typeof options.user !== 'string' || options.user.length === 0) throw new TypeError('BrowserClient: user must be a non-empty string');
  }

  get state(): BrowserClientState {
    return this.phase;
  }

  /** The rooms this client is in (joined again after every re-connect). */
  get rooms(): ReadonlySet<string> {
    return this.joined;
  }

  on<K extends keyof BrowserClientEvents>(event: K, fn: Listener<BrowserClientEvents[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return this;
  }

  off<K extends keyof BrowserClientEvents>(event: K, fn: Listener<BrowserClientEvents[K]>): this {
    this.listeners.get(event)?.delete(fn as Listener<never>);
    return this;
  }

  private emit<K extends keyof BrowserClientEvents>(event: K, value: BrowserClientEvents[K]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) (fn as Listener<BrowserClientEvents[K]>)(value);
  }

  private setState(s: BrowserClientState): void {
    if (this.phase === s) return;
    this.phase = s;
    this.emit('state', s);
  }

  /** Allocates, connects and logs in; resolves with the server id. Calls while an attempt runs share it. */
  connect(): Promise<string> {
    if (this.phase === 'closed') return Promise.reject(new Error('BrowserClient: closed'));
    if (this.phase === 'connected' && this.server !== undefined) return Promise.resolve(this.server);
    clearTimeout(this.reconnectTimer);
    this.attempt ??= this.dial(false).finally(() => (this.attempt = undefined));
    return this.attempt;
  }

  private async allocate(): Promise<Allocation> {
    if (this.options.allocate) return this.options.allocate(this.options.user);
    const base = new URL(this.options.allocUrl ?? '/', location.href);
    const url = new URL(`allocate?user=${encodeURIComponent(this.options.user)}`, base);
    const r = await this.within(fetch(url, { headers: { accept: 'application/json', ...(this.options.allocHeaders ?? {}) } }), 'allocation');
    const body = (await r.json()) as { ws?: string | null; token?: string; error?: { code: string; message: string } };
    if (!r.ok) throw new RefusedError(body.error?.code ?? `HTTP_${r.status}`, body.error?.message ?? `allocation failed (${r.status})`);
    if (!body.ws) throw new RefusedError('FULCRUM_NO_WEBSOCKET', 'the allocated server takes no WebSocket clients');
    return { url: body.ws, ...(body.token ? { token: body.token } : {}) };
  }

  private within<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.options.connectTimeoutMs ?? BROWSER_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e: unknown) => (clearTimeout(t), reject(e)),
      );
    });
  }

  private async tokenFor(alloc: Allocation): Promise<string | undefined> {
    const t = this.options.token;
    if (typeof t === 'function') return t();
    return t ?? alloc.token ?? this.allocatedToken;
  }

  /** One attempt: allocate, open, log in, re-join; `migrated` marks a move asked by the server. */
  private async dial(migrated: boolean): Promise<string> {
    this.setState('connecting');
    let link: Link | undefined;
    try {
      const alloc = await this.allocate();
      if (alloc.token) this.allocatedToken = alloc.token;
      if (migrated && this.link && alloc.url === this.link.url) throw new Error('the allocation named the same server');
      link = new Link(alloc.url);
      const l = link;
      await this.within(new Promise<void>((resolve, reject) => {
        l.ws.onopen = () => resolve();
        l.ws.onerror = () => reject(new Error(`${alloc.url}: the WebSocket did not open`));
      }), 'connect');
      const token = await this.tokenFor(alloc);
      const welcome = await this.within(new Promise<WelcomeFrame>((resolve, reject) => {
        l.onFrame = (m) => {
          if (isFrame<WelcomeFrame>(m, 'welcome')) resolve(m);
          else if (isFrame<ErrorFrame>(m, 'error')) reject(new RefusedError(String(m.code), String(m.message)));
        };
        l.onClose = () => reject(new Error(`${alloc.url} closed the connection during the login`));
        if (migrated) l.send({ type: 'ping', seq: ++this.seq, migrated: true });
        // `since`: where this client is in each stream, so a server with history replays what it missed (others ignore it).
        const since = this.userPosition ? { since: this.userPosition } : {};
        l.send({ ...(this.options.loginFields?.() ?? {}), ...since, type: 'login', user: this.options.user, ...(token === undefined ? {} : { token }) });
        for (const room of this.joined) l.send(this.joinFrame(room));
      }), 'login');
      if (this.phase === 'closed') {
        l.close();
        throw new Error('BrowserClient: closed');
      }
      this.adopt(l, welcome);
      return this.server!;
    } catch (e) {
      link?.close();
      this.afterFailure(e as Error, migrated);
      throw e;
    }
  }

  private afterFailure(e: Error, migrated: boolean): void {
    if (migrated || this.phase === 'closed') {
      if (migrated && this.link?.open) this.setState('connected');
      return;
    }
    if (e instanceof RefusedError && !RETRYABLE_LOGIN_CODES.has(e.code)) return this.stop(e.code, e.message);
    // A first connect() that fails leaves the decision to the caller, as does a client that does not re-connect.
    if (!this.everConnected || this.options.reconnect === false) return this.setState('idle');
    this.emit('error', e);
    this.scheduleReconnect();
  }

  private everConnected = false;

  private adopt(l: Link, welcome: WelcomeFrame): void {
    const old = this.link;
    this.link = l;
    this.server = String(welcome.server);
    this.expiresAt = typeof welcome.expiresAt === 'number' ? welcome.expiresAt : undefined;
    this.failures = 0;
    this.everConnected = true;
    l.onFrame = (m) => this.onFrame(l, m);
    l.onClose = () => this.onClose(l);
    // Requests waiting on the old connection get their answer there; anything after goes here.
    if (old && old !== l) old.close();
    this.setState('connected');
    this.scheduleRefresh(false);
    this.emit('connected', { server: this.server, url: l.url, ...(this.expiresAt === undefined ? {} : { expiresAt: this.expiresAt }) });
  }

  private joinFrame(room: string): object {
    const at = this.roomPositions.get(room);
    return at ? { type: 'join', room, since: at } : { type: 'join', room };
  }

  /** Where this client is in the user's stream and in each room's (what it sends as `since`). */
  get positions(): { user?: StreamPosition; rooms: ReadonlyMap<string, StreamPosition> } {
    return { ...(this.userPosition ? { user: this.userPosition } : {}), rooms: this.roomPositions };
  }

  private onFrame(l: Link, m: unknown): void {
    if (isFrame<MessageFrame>(m, 'message')) {
      const { type: _t, ...msg } = m;
      const at = m as { offset?: unknown; epoch?: unknown; broadcast?: unknown };
      // Only pushes and private messages are acked; room messages and broadcasts never are.
      const ackable = m.room === undefined && at.broadcast !== true;
      if (typeof at.offset === 'number' && typeof at.epoch === 'string' && at.broadcast !== true) {
        const last = m.room !== undefined ? this.roomPositions.get(m.room) : this.userPosition;
        if (last && last.epoch === at.epoch && at.offset <= last.offset) {
          // Already received (a replay after a re-connect): dropped, still acked (the server may wait for it).
          if (ackable) l.send({ type: 'ack', id: m.id });
          return;
        }
        const position = { epoch: at.epoch, offset: at.offset };
        if (m.room !== undefined) this.roomPositions.set(m.room, position);
        else this.userPosition = position;
      }
      this.emit('message', msg as BrowserMessage);
      if (ackable && (this.options.autoAck ?? true)) l.send({ type: 'ack', id: m.id });
    } else if (isFrame<{ type: 'joined'; room: string; epoch: string; offset: number; recovered?: boolean }>(m, 'joined')) {
      // History: a join without `since` starts after the room's top; one of another epoch from its start.
      const last = this.roomPositions.get(m.room);
      if (m.recovered === undefined) this.roomPositions.set(m.room, { epoch: m.epoch, offset: m.offset });
      else if (last?.epoch !== m.epoch) this.roomPositions.set(m.room, { epoch: m.epoch, offset: 0 });
    } else if (isFrame<SentFrame>(m, 'sent')) {
      const p = this.sends.get(m.id);
      if (!p) return;
      this.sends.delete(m.id);
      this.settle(p, undefined, m.code === undefined ? { delivered: m.delivered === true } : { delivered: m.delivered === true, code: String(m.code) });
    } else if (isFrame<{ type: 'pong'; seq: number }>(m, 'pong')) {
      const p = this.pending.find((x) => x.kind === 'confirm' && x.seq === m.seq);
      if (p) this.settle(p, undefined, undefined);
    } else if (isFrame<RefreshedFrame>(m, 'refreshed')) {
      const p = this.pending.find((x) => x.kind === 'refresh');
      if (typeof m.expiresAt === 'number') this.expiresAt = m.expiresAt;
      this.scheduleRefresh(false);
      if (p) this.settle(p, undefined, this.expiresAt);
    } else if (isFrame<ErrorFrame>(m, 'error')) {
      const p = this.pending.find((x) => (m.refresh === true ? x.kind === 'refresh' : x.kind === 'confirm'));
      if (p) this.settle(p, new RefusedError(String(m.code), String(m.message)), undefined);
      if (m.room === undefined && m.refresh !== true) this.emit('error', new RefusedError(String(m.code), String(m.message)));
    } else if (isFrame<KickedFrame>(m, 'kicked')) {
      const reason = String(m.reason);
      this.emit('kicked', { reason });
      if (reason !== 'slow' && reason !== 'expired') this.stop('FULCRUM_KICKED', `kicked: ${reason}`);
    } else if (isFrame<{ type: 'migrate' }>(m, 'migrate')) {
      if (this.phase === 'connected' && !this.attempt) this.attempt = this.dial(true).finally(() => (this.attempt = undefined));
      this.attempt?.catch(() => {});
    }
  }

  private onClose(l: Link): void {
    if (this.link !== l) return;
    this.link = undefined;
    this.server = undefined;
    clearTimeout(this.refreshTimer);
    for (const p of [...this.pending, ...this.sends.values()]) this.settle(p, new Error('disconnected'), undefined);
    this.sends.clear();
    if (this.phase !== 'connected') return;
    const again = this.options.reconnect ?? true;
    this.emit('disconnected', { reconnect: again });
    if (again) this.scheduleReconnect(0);
    else this.setState('idle');
  }

  private stop(code: string, message: string): void {
    if (this.phase === 'stopped' || this.phase === 'closed') return;
    clearTimeout(this.reconnectTimer);
    this.setState('stopped');
    this.emit('stopped', { code, message });
    this.link?.close();
  }

  private scheduleReconnect(delay?: number): void {
    this.setState('reconnecting');
    const base = this.options.backoffBaseMs ?? BROWSER_BACKOFF_BASE_MS;
    const max = this.options.backoffMaxMs ?? BROWSER_BACKOFF_MAX_MS;
    const wait = delay ?? Math.random() * Math.min(max, base * 2 ** this.failures);
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      if (this.phase !== 'reconnecting') return;
      this.attempt ??= this.dial(false).finally(() => (this.attempt = undefined));
      this.attempt.catch(() => {});
    }, wait);
  }

  private scheduleRefresh(retry: boolean): void {
    clearTimeout(this.refreshTimer);
    const at = this.expiresAt;
    if (at === undefined || typeof this.options.token !== 'function') return;
    const left = at - Date.now();
    if (retry && left <= 0) return;
    const lead = Math.min(this.options.refreshBeforeMs ?? BROWSER_REFRESH_BEFORE_MS, left / 2);
    this.refreshTimer = setTimeout(() => {
      this.refresh().then(
        (expiresAt) => this.emit('refreshed', expiresAt === undefined ? {} : { expiresAt }),
        (e: Error) => {
          this.emit('error', e);
          this.scheduleRefresh(true);
        },
      );
    }, retry ? Math.max(1_000, left / 2) : Math.max(0, left - lead));
  }

  private request<T>(kind: Pending['kind'], frames: object[], seq?: number): Promise<T> {
    const l = this.link;
    if (!l?.open) return Promise.reject(new Error('not connected'));
    for (const f of frames) l.send(f);
    return new Promise((resolve, reject) => {
      const p: Pending = {
        kind,
        seq,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => this.settle(p, new Error(`no answer within ${this.options.requestTimeoutMs ?? BROWSER_REQUEST_TIMEOUT_MS} ms`), undefined), this.options.requestTimeoutMs ?? BROWSER_REQUEST_TIMEOUT_MS),
      };
      this.pending.push(p);
    });
  }

  private settle(p: Pending, err: Error | undefined, value: unknown): void {
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  /** Joins a room (kept across re-connects); resolves once the server took it in, rejects with RefusedError when it refused. */
  async join(room: string): Promise<void> {
    const had = this.joined.has(room);
    this.joined.add(room);
    const seq = ++this.seq;
    try {
      await this.request<void>('confirm', [this.joinFrame(room), { type: 'ping', seq }], seq);
    } catch (e) {
      if (!had) this.joined.delete(room);
      throw e;
    }
  }

  /** Leaves a room (not joined again on a re-connect, even if this rejects). */
  leave(room: string): Promise<void> {
    this.joined.delete(room);
    this.roomPositions.delete(room);
    const seq = ++this.seq;
    return this.request<void>('confirm', [{ type: 'leave', room }, { type: 'ping', seq }], seq);
  }

  /** A private message to another user; resolves with the `sent` answer `{delivered, code?}`. */
  send(to: string, body: unknown): Promise<{ delivered: boolean; code?: string }> {
    const id = ++this.sendSeq;
    const l = this.link;
    if (!l?.send({ type: 'send', id, to, body })) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const p: Pending = {
        kind: 'confirm',
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => {
          this.sends.delete(id);
          reject(new Error(`send to ${to}: no answer within ${this.options.requestTimeoutMs ?? BROWSER_REQUEST_TIMEOUT_MS} ms`));
        }, this.options.requestTimeoutMs ?? BROWSER_REQUEST_TIMEOUT_MS),
      };
      this.sends.set(id, p);
    });
  }

  /** Acknowledges a message (automatic unless autoAck is false). */
  ack(id: MessageId): void {
    this.link?.send({ type: 'ack', id });
  }

  /** Sends a fresh token (given, or from the token function) on the live connection; resolves with the new expiry. */
  async refresh(token?: string): Promise<number | undefined> {
    const t = token ?? (typeof this.options.token === 'function' ? await this.options.token() : this.options.token);
    if (t === undefined) throw new Error('no token to refresh with');
    return this.request<number | undefined>('refresh', [{ type: 'refresh', token: t }]);
  }

  /** Closes for good. */
  close(): void {
    if (this.phase === 'closed') return;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
    this.setState('closed');
    const l = this.link;
    this.link = undefined;
    l?.close();
  }
}
