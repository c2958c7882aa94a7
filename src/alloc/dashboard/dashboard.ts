/**
 * The dashboard's script (bundled by esbuild at build time, inlined into the page by the service
 * and allowed by its hash in the CSP). It follows `/events` (Server-Sent Events) and draws every
 * server's balance over time as an inline SVG step chart, the spread, and a table. Server and
 * user names come from ZooKeeper, i.e. from anyone who can write there, so they are only ever
 * set through textContent / setAttribute.
 *
 * Stable hooks for tests: #status[data-state], #spread, #total, #count, #chart (one
 * `.series[data-server]` per server), #servers tbody tr[data-server] with td.balance, and
 * body[data-events] counting the events applied.
 *
 * Messaging: the online-users panel (#online-total, #online-prefix, #online tbody tr[data-user]
 * with td.user / td.server / td.since) fetches `/online` whenever an event says the route table
 * changed (`online.version`). The push form (#push-form: #push-user, #push-message, #push-auth,
 * #push-send) posts to `/push`; #push-result[data-state] is sending, acked, offline, timeout or
 * error, and body[data-pushes] counts the answers shown.
 *
 * Try it: #try-form (#try-user, #try-login, #try-logout) logs a user in from the page with the
 * browser client (allocation, WebSocket, login; the admin token of the push form fetches the login
 * token when the service has a secret); #try-status[data-state] follows the client's state
 * (connected, connecting, reconnecting, stopped, error); #try-messages li, one per message
 * received, and body[data-try-messages] counts them.
 */
import { BrowserClient, type BrowserMessage } from '../../browser/index.js';
import type { EventPayload } from '../event-payload.js';

/** `GET /online`'s answer. */
interface OnlineAnswer {
  total: number;
  users: { user: string; server: string; since: number }[];
}

/** `POST /push`'s answer for one user, or the service's error body. */
interface PushAnswer {
  server?: string;
  id?: string | number;
  error?: { code: string; message: string };
}

interface Point {
  t: number;
  v: number;
}

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#4e9af1', '#f2a541', '#3fb950', '#e5534b', '#a371f7', '#39c5cf', '#db61a2', '#c9d1d9', '#8ddb8c', '#f0883e'];
const MIN_WINDOW_MS = 10_000;
const MAX_WINDOW_MS = 300_000;

function byId<T extends Element = HTMLElement>(id: string): T {
  const e = document.querySelector<T>(`#${id}`);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
}

function one<T extends Element>(root: ParentNode, selector: string): T {
  const e = root.querySelector(selector);
  if (!e) throw new Error(`the page has no ${selector}`);
  return e as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string | number>, text?: unknown): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: unknown): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

const history = new Map<string, Point[]>();
const colors = new Map<string, string>(); // by first appearance
const rows = new Map<string, HTMLTableRowElement>();
let latest: EventPayload | undefined;
let firstAt = 0;
let events = 0;
const chart = byId<SVGSVGElement>('chart');
const tbody = one<HTMLTableSectionElement>(document, '#servers tbody');

function colorOf(name: string): string {
  let c = colors.get(name);
  if (c === undefined) {
    c = PALETTE[colors.size % PALETTE.length]!;
    colors.set(name, c);
  }
  return c;
}

function setStatus(state: string, text: string): void {
  const s = byId('status');
  s.dataset.state = state;
  s.textContent = text;
}

function apply(msg: EventPayload): void {
  latest = msg;
  if (!firstAt) firstAt = msg.at;
  const live = new Set<string>();
  for (const s of msg.servers) {
    live.add(s.name);
    let h = history.get(s.name);
    if (!h) {
      h = [];
      history.set(s.name, h);
    }
    if (h.length === 0 || h[h.length - 1]!.v !== s.balance) h.push({ t: msg.at, v: s.balance });
  }
  // A server that left is dropped: the chart shows one series per live server.
  for (const n of [...history.keys()]) if (!live.has(n)) history.delete(n);
  // Trim points that left the window, keeping the one still in effect at its left edge.
  for (const h of history.values()) while (h.length > 1 && h[1]!.t < msg.at - MAX_WINDOW_MS) h.shift();
  byId('spread').textContent = String(msg.spread);
  byId('total').textContent = String(msg.total);
  byId('count').textContent = String(msg.servers.length);
  byId('updated').textContent = new Date(msg.at).toLocaleTimeString();
  if (msg.zookeeper && !msg.zookeeper.connected) setStatus('stale', 'ZooKeeper away: last good picture');
  else setStatus('live', 'live');
  renderTable(msg);
  renderChart();
  events++;
  document.body.dataset.events = String(events);
}

function renderTable(msg: EventPayload): void {
  let max = 1;
  for (const s of msg.servers) max = Math.max(max, s.maxConnections ?? 0, s.balance);
  const seen = new Set<string>();
  for (const s of msg.servers) {
    seen.add(s.name);
    let tr = rows.get(s.name);
    if (!tr) {
      tr = el('tr', { 'data-server': s.name });
      const nameCell = el('td', { class: 'name' });
      nameCell.append(el('span', { class: 'swatch' }), document.createTextNode(s.name));
      const bar = el('div', { class: 'bar' });
      bar.append(el('span'));
      const barCell = el('td', { class: 'load' });
      barCell.append(bar);
      tr.append(nameCell, el('td', { class: 'address' }), el('td', { class: 'balance' }), el('td', { class: 'num max' }), el('td', { class: 'state' }), barCell);
      rows.set(s.name, tr);
    }
    const c = colorOf(s.name);
    one<HTMLElement>(tr, '.swatch').style.background = c;
    one<HTMLElement>(tr, '.address').textContent = s.ip.includes(':') ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
    const b = one<HTMLElement>(tr, '.balance');
    b.textContent = String(s.balance);
    b.dataset.balance = String(s.balance);
    one<HTMLElement>(tr, '.max').textContent = s.maxConnections === null ? '∞' : String(s.maxConnections);
    const state = one<HTMLElement>(tr, '.state');
    state.textContent = '';
    state.append(el('span', { class: `tag ${s.draining ? 'draining' : 'live'}` }, s.draining ? 'draining' : 'live'));
    tr.classList.toggle('draining', s.draining);
    const fill = one<HTMLElement>(tr, '.bar > span');
    fill.style.width = `${Math.round((100 * s.balance) / max)}%`;
    fill.style.background = c;
  }
  for (const [name, tr] of rows) {
    if (!seen.has(name)) {
      tr.remove();
      rows.delete(name);
    }
  }
  // Keep the table in name order (the order of the snapshot).
  for (const s of msg.servers) tbody.append(rows.get(s.name)!);
}

/** Smallest m × 10^k (m from mults) that is at least v, and never below 1. */
function niceStep(v: number, mults: readonly number[]): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of mults) if (m * p >= v) return m * p;
  return 10 * p;
}

function renderChart(): void {
  const W = chart.clientWidth || 900;
  const H = chart.clientHeight || 280;
  const L = 44;
  const R = 12;
  const T = 10;
  const B = 24;
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
  chart.replaceChildren();
  const now = Date.now();
  const span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, now - firstAt));
  const t0 = now - span;
  let top = 1;
  for (const h of history.values()) for (const p of h) if (p.v > top) top = p.v;
  // Balances are whole numbers: integer ticks, about four of them.
  const step = niceStep(top / 4, [1, 2, 5]);
  top = Math.ceil(top / step) * step;
  if (top === 0) top = step;
  const x = (t: number) => L + ((Math.max(t, t0) - t0) / span) * (W - L - R);
  const y = (v: number) => T + (1 - v / top) * (H - T - B);
  for (let v = 0; v <= top; v += step) {
    const yy = y(v);
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: yy, y2: yy }), svg('text', { class: 'axis', x: L - 6, y: yy + 4, 'text-anchor': 'end' }, v));
  }
  // Time ticks at round ages (now, -5s, -10s, ...), labelled by how long ago.
  const tick = [1, 2, 5, 10, 15, 30, 60, 120].map((k) => k * 1000).find((k) => span / k <= 6) ?? 120_000;
  for (let age = 0; age <= span; age += tick) {
    const xx = x(now - age);
    const label = age === 0 ? 'now' : age % 60_000 === 0 ? `-${age / 60_000}m` : `-${age / 1000}s`;
    chart.append(
      svg('line', { class: 'grid', x1: xx, x2: xx, y1: H - B, y2: H - B + 4 }),
      svg('text', { class: 'axis', x: xx, y: H - 6, 'text-anchor': age === 0 ? 'end' : 'middle' }, label),
    );
  }
  if (history.size === 0) chart.append(svg('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no servers registered'));
  const legend = byId('legend');
  legend.textContent = '';
  let index = 0;
  const n = history.size;
  for (const [name, h] of history) {
    // Even servers share a value; nudge each line a little so none hides another.
    const nudge = (index++ - (n - 1) / 2) * 1.5;
    // Step line: a balance holds until the next report, then jumps.
    let d = '';
    let prev: Point | undefined;
    for (const p of h) {
      const px = x(p.t);
      const py = y(p.v) + nudge;
      d += prev === undefined ? `M${px.toFixed(1)} ${py.toFixed(1)}` : ` H${px.toFixed(1)} V${py.toFixed(1)}`;
      prev = p;
    }
    if (prev) d += ` H${x(now).toFixed(1)}`;
    chart.append(svg('path', { class: 'series', 'data-server': name, stroke: colorOf(name), d }));
    const item = el('span');
    const sw = el('span', { class: 'swatch' });
    sw.style.background = colorOf(name);
    item.append(sw, document.createTextNode(`${name} · ${prev ? prev.v : 0}`));
    legend.append(item);
  }
}

// ---- messaging: online users and the push form -------------------------------------------
const ONLINE_LIMIT = 50;
const ONLINE_MIN_GAP_MS = 250;
let onlineWanted = -1;
let onlineShown = -2;
let onlineBusy = false;
let onlineTimer: ReturnType<typeof setTimeout> | undefined;
let onlineAt = 0;
const onlineBody = one<HTMLTableSectionElement>(document, '#online tbody');
const prefixInput = byId<HTMLInputElement>('online-prefix');
const pushUser = byId<HTMLInputElement>('push-user');
const pushMessage = byId<HTMLTextAreaElement>('push-message');
const pushAuth = byId<HTMLInputElement>('push-auth');
const pushSend = byId<HTMLButtonElement>('push-send');

function wantOnline(version: number): void {
  onlineWanted = version;
  if (onlineBusy || onlineTimer !== undefined) return;
  // At most one /online request in flight and one per ONLINE_MIN_GAP_MS: a login storm is one refresh.
  onlineTimer = setTimeout(() => void fetchOnline(), Math.max(0, onlineAt + ONLINE_MIN_GAP_MS - Date.now()));
}

async function fetchOnline(): Promise<void> {
  onlineTimer = undefined;
  onlineBusy = true;
  onlineAt = Date.now();
  const version = onlineWanted;
  const prefix = prefixInput.value;
  const url = `online?limit=${ONLINE_LIMIT}${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ''}`;
  try {
    const r = await fetch(url, { headers: { accept: 'application/json' } });
    const body = (await r.json()) as OnlineAnswer & PushAnswer;
    if (r.ok) {
      renderOnline(body, prefix);
      onlineShown = version;
    } else renderOnlineNote(body.error ? body.error.message : 'cannot list users');
  } catch {
    renderOnlineNote('cannot reach the service');
  }
  onlineBusy = false;
  if (onlineWanted !== onlineShown) wantOnline(onlineWanted);
}

function renderOnlineNote(text: string): void {
  onlineBody.textContent = '';
  const tr = el('tr', { class: 'none' });
  tr.append(el('td', { colspan: '3' }, text));
  onlineBody.append(tr);
}

function renderOnline(body: OnlineAnswer, prefix: string): void {
  byId('online-total').textContent = String(body.total);
  document.body.dataset.online = String(body.total);
  onlineBody.textContent = '';
  if (body.users.length === 0) {
    renderOnlineNote(prefix ? 'nobody online with this prefix' : 'nobody online');
    return;
  }
  for (const u of body.users) {
    const tr = el('tr', { 'data-user': u.user });
    tr.append(el('td', { class: 'user' }, u.user), el('td', { class: 'server' }, u.server), el('td', { class: 'since' }, new Date(u.since).toLocaleTimeString()));
    tr.addEventListener('click', () => {
      pushUser.value = u.user;
      pushMessage.focus();
    });
    onlineBody.append(tr);
  }
  if (body.total > body.users.length) {
    const tr = el('tr', { class: 'none' });
    tr.append(el('td', { colspan: '3' }, `… and ${body.total - body.users.length} more (narrow with the prefix)`));
    onlineBody.append(tr);
  }
}

let prefixTimer: ReturnType<typeof setTimeout> | undefined;
prefixInput.addEventListener('input', () => {
  clearTimeout(prefixTimer);
  prefixTimer = setTimeout(() => {
    onlineShown = -2;
    wantOnline(onlineWanted);
  }, 150);
});

let pushes = 0;
function setResult(state: string, text: string): void {
  const r = byId('push-result');
  r.dataset.state = state;
  r.textContent = text;
}
function finishPush(state: string, text: string): void {
  setResult(state, text);
  document.body.dataset.pushes = String(++pushes);
}
/** JSON when it parses, otherwise the text as a string (as npm run push does). */
function messageOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function push(user: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const auth = pushAuth.value.trim();
  if (auth) headers.authorization = `Bearer ${auth}`;
  const started = Date.now();
  pushSend.disabled = true;
  setResult('sending', `sending to ${user}…`);
  try {
    const r = await fetch('push', { method: 'POST', headers, body: JSON.stringify({ user, message: messageOf(pushMessage.value) }) });
    const body = (await r.json()) as PushAnswer;
    const ms = Date.now() - started;
    if (r.status === 200) finishPush('acked', `acked by ${user} on ${body.server} · id ${body.id} · ${ms} ms`);
    else {
      const err = body.error ?? { code: `HTTP ${r.status}`, message: '' };
      const state = err.code === 'FULCRUM_USER_OFFLINE' ? 'offline' : err.code === 'FULCRUM_PUSH_TIMEOUT' ? 'timeout' : 'error';
      finishPush(state, `${r.status} ${err.code}: ${err.message}`);
    }
  } catch (e) {
    finishPush('error', `request failed: ${(e as Error).message}`);
  }
  pushSend.disabled = false;
}

byId<HTMLFormElement>('push-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = pushUser.value.trim();
  if (!user) {
    setResult('error', 'name a user (click one in the list)');
    return;
  }
  void push(user);
});

// ---- try it: a user logged in from this page ----------------------------------------------
const tryUser = byId<HTMLInputElement>('try-user');
const tryLogin = byId<HTMLButtonElement>('try-login');
const tryLogout = byId<HTMLButtonElement>('try-logout');
const tryMessages = byId<HTMLOListElement>('try-messages');
let tryClient: BrowserClient | undefined;
let tryReceived = 0;

function tryStatus(state: string, text: string): void {
  const s = byId('try-status');
  s.dataset.state = state;
  s.textContent = text;
}

function showMessage(m: BrowserMessage): void {
  const li = el('li');
  li.append(el('span', { class: 'meta' }, m.room !== undefined ? `room ${m.room}` : m.from !== undefined ? `from ${m.from}` : 'push'), document.createTextNode(JSON.stringify(m.body)));
  tryMessages.prepend(li);
  document.body.dataset.tryMessages = String(++tryReceived);
}

async function tryIt(user: string): Promise<void> {
  tryClient?.close();
  const auth = pushAuth.value.trim();
  const client = new BrowserClient({ user, allocUrl: './', allocHeaders: auth ? { authorization: `Bearer ${auth}` } : {} });
  tryClient = client;
  client.on('state', (s) => {
    if (s === 'connecting' || s === 'reconnecting') tryStatus(s, `${s}…`);
  });
  client.on('connected', ({ server }) => {
    tryStatus('connected', `logged in as ${user} on ${server}`);
    pushUser.value = user;
  });
  client.on('message', showMessage);
  client.on('stopped', ({ code, message }) => tryStatus('stopped', `${code}: ${message}`));
  tryLogout.disabled = false;
  try {
    await client.connect();
  } catch (e) {
    if (tryClient === client && client.state !== 'stopped') tryStatus('error', (e as Error).message);
  }
}

byId<HTMLFormElement>('try-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = tryUser.value.trim();
  if (!user) return tryStatus('error', 'name a user to log in as');
  tryLogin.textContent = 'Log in again';
  void tryIt(user);
});
tryLogout.addEventListener('click', () => {
  tryClient?.close();
  tryClient = undefined;
  tryLogout.disabled = true;
  tryStatus('idle', 'not logged in');
});

const source = new EventSource('events');
source.onopen = () => setStatus('live', 'live');
source.onerror = () => setStatus('down', 'reconnecting…');
source.onmessage = (e: MessageEvent<string>) => {
  try {
    const msg = JSON.parse(e.data) as EventPayload;
    apply(msg);
    if (msg.online && msg.online.version !== onlineShown) wantOnline(msg.online.version);
  } catch (err) {
    console.error(err);
  }
};
// Keep the time axis moving between events.
setInterval(() => {
  if (latest) renderChart();
}, 1000);
window.addEventListener('resize', () => {
  if (latest) renderChart();
});
