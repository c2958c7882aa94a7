import { createHash } from 'node:crypto';

/**
 * The dashboard: one self-contained page (no CDN, no chart library). It follows `/events`
 * (Server-Sent Events) and draws every server's balance over time as an inline SVG step chart,
 * the spread, and a table. Server names come from ZooKeeper, i.e. from anyone who can write
 * there, so the script only ever sets them through textContent / setAttribute.
 *
 * Stable hooks for tests: #status[data-state], #spread, #total, #count, #chart
 * (one `.series[data-server]` per server), #servers tbody tr[data-server] with td.balance,
 * and body[data-events] counting the events applied.
 *
 * Messaging: the online-users panel (#online-total, #online-prefix, #online tbody
 * tr[data-user] with td.user / td.server / td.since) fetches `/online` whenever an event says the
 * route table changed (`online.version`). The push form (#push-form: #push-user, #push-message,
 * #push-auth, #push-send) posts to `/push`; #push-result[data-state] is sending, acked, offline,
 * timeout or error, and body[data-pushes] counts the answers shown. Users, servers and answers are likewise only set through textContent.
 */

const CSS = `
:root { color-scheme: dark; --bg:#0f1419; --card:#161d26; --line:#253141; --text:#dce3ea; --muted:#8a98a8; --ok:#3fb950; --warn:#d29922; --bad:#f85149; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 16px; padding: 14px 24px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; font-weight: 600; letter-spacing: .3px; }
header .root { color: var(--muted); font-family: ui-monospace, monospace; font-size: 12px; }
#status { margin-left: auto; font-size: 12px; padding: 3px 10px; border-radius: 999px; border: 1px solid var(--line); color: var(--muted); }
#status[data-state="live"] { color: var(--ok); border-color: var(--ok); }
#status[data-state="stale"] { color: var(--warn); border-color: var(--warn); }
#status[data-state="down"] { color: var(--bad); border-color: var(--bad); }
main { padding: 18px 24px; display: grid; gap: 18px; max-width: 1280px; margin: 0 auto; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.stat .label { display: block; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .6px; }
.stat .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card h2 { margin: 0 0 8px; font-size: 13px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .6px; }
#chart { width: 100%; height: 280px; display: block; }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart .axis { fill: var(--muted); font-size: 11px; font-family: ui-monospace, monospace; }
#chart .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
#chart .empty { fill: var(--muted); font-size: 13px; }
#legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin-top: 6px; font-size: 12px; color: var(--muted); }
#legend .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 7px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.balance, th.num, td.num { text-align: right; }
td.balance { font-weight: 600; }
td.name { font-family: ui-monospace, monospace; }
tr.draining td { color: var(--muted); }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; min-width: 120px; }
.bar > span { display: block; height: 100%; border-radius: 3px; }
.tag { font-size: 11px; padding: 1px 7px; border-radius: 999px; border: 1px solid var(--line); }
.tag.draining { color: var(--warn); border-color: var(--warn); }
.tag.live { color: var(--ok); border-color: var(--ok); }
.two { display: grid; grid-template-columns: 3fr 2fr; gap: 18px; align-items: start; }
.card h2 .count { color: var(--text); margin-left: 6px; font-variant-numeric: tabular-nums; }
input, textarea, button { font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 9px; }
input:focus, textarea:focus { outline: 1px solid #4e9af1; border-color: #4e9af1; }
textarea { width: 100%; min-height: 74px; resize: vertical; font-family: ui-monospace, monospace; font-size: 13px; }
button { background: #1f6feb; border-color: #1f6feb; color: #fff; font-weight: 600; cursor: pointer; padding: 7px 16px; }
button:disabled { opacity: .6; cursor: progress; }
#online-prefix { width: 100%; margin-bottom: 8px; }
#online { max-height: 320px; overflow-y: auto; display: block; }
#online table { display: table; }
#online tbody tr { cursor: pointer; }
#online tbody tr:hover td { background: #1b2431; }
#online td.user { font-family: ui-monospace, monospace; font-weight: 600; }
#online td.server, #online td.since { color: var(--muted); font-size: 12px; }
#online .none td { color: var(--muted); cursor: default; }
#push-form { display: grid; gap: 8px; }
#push-form label { display: grid; gap: 3px; color: var(--muted); font-size: 12px; }
#push-form .row { display: flex; gap: 10px; align-items: center; }
.hint { color: var(--muted); font-size: 12px; }
#push-result { font-size: 13px; padding: 8px 10px; border-radius: 6px; border: 1px solid var(--line); color: var(--muted); min-height: 38px; word-break: break-word; }
#push-result[data-state="acked"] { color: var(--ok); border-color: var(--ok); }
#push-result[data-state="offline"], #push-result[data-state="timeout"] { color: var(--warn); border-color: var(--warn); }
#push-result[data-state="error"] { color: var(--bad); border-color: var(--bad); }
`;

const SCRIPT = `
'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var PALETTE = ['#4e9af1', '#f2a541', '#3fb950', '#e5534b', '#a371f7', '#39c5cf', '#db61a2', '#c9d1d9', '#8ddb8c', '#f0883e'];
  var MIN_WINDOW_MS = 10000, MAX_WINDOW_MS = 300000;
  var history = new Map();   // name -> [{t, v}]
  var colors = new Map();    // name -> color, by first appearance
  var rows = new Map();      // name -> <tr>
  var latest = null, firstAt = 0, events = 0;
  var $ = function (id) { return document.getElementById(id); };
  var chart = $('chart'), tbody = document.querySelector('#servers tbody');

  function colorOf(name) {
    if (!colors.has(name)) colors.set(name, PALETTE[colors.size % PALETTE.length]);
    return colors.get(name);
  }
  function el(tag, attrs, text) {
    var e = tag.indexOf('svg:') === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function setStatus(state, text) { var s = $('status'); s.dataset.state = state; s.textContent = text; }

  function apply(msg) {
    latest = msg;
    if (!firstAt) firstAt = msg.at;
    var live = new Set();
    msg.servers.forEach(function (s) {
      live.add(s.name);
      var h = history.get(s.name);
      if (!h) { h = []; history.set(s.name, h); }
      if (h.length === 0 || h[h.length - 1].v !== s.balance) h.push({ t: msg.at, v: s.balance });
    });
    // A server that left is dropped: the chart shows one series per live server.
    Array.from(history.keys()).forEach(function (n) { if (!live.has(n)) history.delete(n); });
    // Trim points that left the window, keeping the one still in effect at its left edge.
    history.forEach(function (h) { while (h.length > 1 && h[1].t < msg.at - MAX_WINDOW_MS) h.shift(); });
    $('spread').textContent = msg.spread;
    $('total').textContent = msg.total;
    $('count').textContent = msg.servers.length;
    $('updated').textContent = new Date(msg.at).toLocaleTimeString();
    if (msg.zookeeper && !msg.zookeeper.connected) setStatus('stale', 'ZooKeeper away: last good picture');
    else setStatus('live', 'live');
    renderTable(msg);
    renderChart();
    events++;
    document.body.dataset.events = String(events);
  }

  function renderTable(msg) {
    var max = 1;
    msg.servers.forEach(function (s) { max = Math.max(max, s.maxConnections || 0, s.balance); });
    var seen = new Set();
    msg.servers.forEach(function (s) {
      seen.add(s.name);
      var tr = rows.get(s.name);
      if (!tr) {
        tr = el('tr', { 'data-server': s.name });
        var sw = el('span', { class: 'swatch' });
        var nameCell = el('td', { class: 'name' });
        nameCell.appendChild(sw); nameCell.appendChild(document.createTextNode(s.name));
        tr.appendChild(nameCell);
        tr.appendChild(el('td', { class: 'address' }));
        tr.appendChild(el('td', { class: 'balance' }));
        tr.appendChild(el('td', { class: 'num max' }));
        tr.appendChild(el('td', { class: 'state' }));
        var bar = el('div', { class: 'bar' }); bar.appendChild(el('span'));
        var barCell = el('td', { class: 'load' }); barCell.appendChild(bar);
        tr.appendChild(barCell);
        rows.set(s.name, tr);
      }
      var c = colorOf(s.name);
      tr.querySelector('.swatch').style.background = c;
      tr.querySelector('.address').textContent = s.ip.indexOf(':') >= 0 ? '[' + s.ip + ']:' + s.port : s.ip + ':' + s.port;
      var b = tr.querySelector('.balance'); b.textContent = s.balance; b.dataset.balance = String(s.balance);
      tr.querySelector('.max').textContent = s.maxConnections === null ? '∞' : s.maxConnections;
      var state = tr.querySelector('.state'); state.textContent = '';
      state.appendChild(el('span', { class: 'tag ' + (s.draining ? 'draining' : 'live') }, s.draining ? 'draining' : 'live'));
      tr.classList.toggle('draining', s.draining);
      var fill = tr.querySelector('.bar > span');
      fill.style.width = Math.round((100 * s.balance) / max) + '%';
      fill.style.background = c;
    });
    rows.forEach(function (tr, name) { if (!seen.has(name)) { tr.remove(); rows.delete(name); } });
    // Keep the table in name order (the order of the snapshot).
    msg.servers.forEach(function (s) { tbody.appendChild(rows.get(s.name)); });
  }

  function renderChart() {
    var W = chart.clientWidth || 900, H = chart.clientHeight || 280;
    var L = 44, R = 12, T = 10, B = 24;
    chart.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    var now = Date.now();
    var span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, now - firstAt));
    var t0 = now - span;
    var top = 1;
    history.forEach(function (h) { h.forEach(function (p) { if (p.v > top) top = p.v; }); });
    // Balances are whole numbers: integer ticks, about four of them.
    var step = niceStep(top / 4, [1, 2, 5]);
    top = Math.ceil(top / step) * step;
    if (top === 0) top = step;
    var x = function (t) { return L + ((Math.max(t, t0) - t0) / span) * (W - L - R); };
    var y = function (v) { return T + (1 - v / top) * (H - T - B); };
    for (var v = 0; v <= top; v += step) {
      var yy = y(v);
      chart.appendChild(el('svg:line', { class: 'grid', x1: L, x2: W - R, y1: yy, y2: yy }));
      chart.appendChild(el('svg:text', { class: 'axis', x: L - 6, y: yy + 4, 'text-anchor': 'end' }, v));
    }
    // Time ticks at round ages (now, -5s, -10s, ...), labelled by how long ago.
    var tick = [1, 2, 5, 10, 15, 30, 60, 120].map(function (k) { return k * 1000; }).find(function (k) { return span / k <= 6; }) || 120000;
    for (var age = 0; age <= span; age += tick) {
      var xx = x(now - age);
      chart.appendChild(el('svg:line', { class: 'grid', x1: xx, x2: xx, y1: H - B, y2: H - B + 4 }));
      var label = age === 0 ? 'now' : age % 60000 === 0 ? '-' + age / 60000 + 'm' : '-' + age / 1000 + 's';
      chart.appendChild(el('svg:text', { class: 'axis', x: xx, y: H - 6, 'text-anchor': age === 0 ? 'end' : 'middle' }, label));
    }
    if (history.size === 0) {
      chart.appendChild(el('svg:text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no servers registered'));
    }
    var legend = $('legend'); legend.textContent = '';
    var index = 0, n = history.size;
    history.forEach(function (h, name) {
      // Even servers share a value; nudge each line a little so none hides another.
      var nudge = (index++ - (n - 1) / 2) * 1.5;
      // Step line: a balance holds until the next report, then jumps.
      var d = '', prev = null;
      h.forEach(function (p) {
        var px = x(p.t), py = y(p.v) + nudge;
        d += prev === null ? 'M' + px.toFixed(1) + ' ' + py.toFixed(1) : ' H' + px.toFixed(1) + ' V' + py.toFixed(1);
        prev = p;
      });
      if (prev) d += ' H' + x(now).toFixed(1);
      chart.appendChild(el('svg:path', { class: 'series', 'data-server': name, stroke: colorOf(name), d: d }));
      var item = el('span');
      var sw = el('span', { class: 'swatch' }); sw.style.background = colorOf(name);
      item.appendChild(sw); item.appendChild(document.createTextNode(name + ' · ' + (prev ? prev.v : 0)));
      legend.appendChild(item);
    });
  }

  // Smallest m * 10^k (m from mults) that is at least v, and never below 1.
  function niceStep(v, mults) {
    if (v <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    for (var i = 0; i < mults.length; i++) if (mults[i] * p >= v) return mults[i] * p;
    return 10 * p;
  }

  // ---- messaging: online users and the push form -------------------------------------------
  var ONLINE_LIMIT = 50, ONLINE_MIN_GAP_MS = 250;
  var onlineWanted = -1, onlineShown = -2, onlineBusy = false, onlineTimer = 0, onlineAt = 0;
  var onlineBody = document.querySelector('#online tbody');

  function wantOnline(version) {
    onlineWanted = version;
    if (onlineBusy || onlineTimer) return;
    // At most one /online request in flight and one per ONLINE_MIN_GAP_MS: a login storm is one refresh.
    onlineTimer = setTimeout(fetchOnline, Math.max(0, onlineAt + ONLINE_MIN_GAP_MS - Date.now()));
  }
  function fetchOnline() {
    onlineTimer = 0; onlineBusy = true; onlineAt = Date.now();
    var version = onlineWanted;
    var prefix = $('online-prefix').value;
    var url = 'online?limit=' + ONLINE_LIMIT + (prefix ? '&prefix=' + encodeURIComponent(prefix) : '');
    fetch(url, { headers: { accept: 'application/json' } })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (a) {
        if (a.ok) { renderOnline(a.body, prefix); onlineShown = version; }
        else renderOnlineNote(a.body && a.body.error ? a.body.error.message : 'cannot list users');
      })
      .catch(function () { renderOnlineNote('cannot reach the service'); })
      .then(function () {
        onlineBusy = false;
        if (onlineWanted !== onlineShown) wantOnline(onlineWanted);
      });
  }
  function renderOnlineNote(text) {
    onlineBody.textContent = '';
    var tr = el('tr', { class: 'none' }); var td = el('td', { colspan: '3' }, text); tr.appendChild(td);
    onlineBody.appendChild(tr);
  }
  function renderOnline(body, prefix) {
    $('online-total').textContent = body.total;
    document.body.dataset.online = String(body.total);
    onlineBody.textContent = '';
    if (body.users.length === 0) { renderOnlineNote(prefix ? 'nobody online with this prefix' : 'nobody online'); return; }
    body.users.forEach(function (u) {
      var tr = el('tr', { 'data-user': u.user });
      tr.appendChild(el('td', { class: 'user' }, u.user));
      tr.appendChild(el('td', { class: 'server' }, u.server));
      tr.appendChild(el('td', { class: 'since' }, new Date(u.since).toLocaleTimeString()));
      tr.addEventListener('click', function () { $('push-user').value = u.user; $('push-message').focus(); });
      onlineBody.appendChild(tr);
    });
    if (body.total > body.users.length) renderOnlineMore(body.total - body.users.length);
  }
  function renderOnlineMore(n) {
    var tr = el('tr', { class: 'none' }); tr.appendChild(el('td', { colspan: '3' }, '… and ' + n + ' more (narrow with the prefix)'));
    onlineBody.appendChild(tr);
  }
  var prefixTimer = 0;
  $('online-prefix').addEventListener('input', function () {
    clearTimeout(prefixTimer);
    prefixTimer = setTimeout(function () { onlineShown = -2; wantOnline(onlineWanted); }, 150);
  });

  var pushes = 0;
  function setResult(state, text) { var r = $('push-result'); r.dataset.state = state; r.textContent = text; }
  function finishPush(state, text) { setResult(state, text); document.body.dataset.pushes = String(++pushes); }
  // JSON when it parses, otherwise the text as a string (as npm run push does).
  function messageOf(text) { try { return JSON.parse(text); } catch (e) { return text; } }
  $('push-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var user = $('push-user').value.trim();
    if (!user) { setResult('error', 'name a user (click one in the list)'); return; }
    var headers = { 'content-type': 'application/json', accept: 'application/json' };
    var auth = $('push-auth').value.trim();
    if (auth) headers.authorization = 'Bearer ' + auth;
    var started = Date.now();
    $('push-send').disabled = true;
    setResult('sending', 'sending to ' + user + '…');
    fetch('push', { method: 'POST', headers: headers, body: JSON.stringify({ user: user, message: messageOf($('push-message').value) }) })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (a) {
        var ms = Date.now() - started;
        if (a.status === 200) finishPush('acked', 'acked by ' + user + ' on ' + a.body.server + ' · id ' + a.body.id + ' · ' + ms + ' ms');
        else {
          var err = a.body && a.body.error ? a.body.error : { code: 'HTTP ' + a.status, message: '' };
          var state = err.code === 'FULCRUM_USER_OFFLINE' ? 'offline' : err.code === 'FULCRUM_PUSH_TIMEOUT' ? 'timeout' : 'error';
          finishPush(state, a.status + ' ' + err.code + ': ' + err.message);
        }
      })
      .catch(function (e) { finishPush('error', 'request failed: ' + e.message); })
      .then(function () { $('push-send').disabled = false; });
  });

  var source = new EventSource('events');
  source.onopen = function () { setStatus('live', 'live'); };
  source.onerror = function () { setStatus('down', 'reconnecting…'); };
  source.onmessage = function (e) {
    try {
      var msg = JSON.parse(e.data);
      apply(msg);
      if (msg.online && msg.online.version !== onlineShown) wantOnline(msg.online.version);
    } catch (err) { console.error(err); }
  };
  // Keep the time axis moving between events.
  setInterval(function () { if (latest) renderChart(); }, 1000);
  window.addEventListener('resize', function () { if (latest) renderChart(); });
})();
`;

function hashOf(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page. Inline style and script are allowed by hash only (see DASHBOARD_CSP). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fulcrum · allocation dashboard</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body data-events="0" data-pushes="0">
<header>
  <h1>fulcrum</h1><span class="root">load-aware socket cluster</span>
  <span id="status" data-state="connecting">connecting…</span>
</header>
<main>
  <section class="stats">
    <div class="stat"><span class="label">servers</span><span class="value" id="count">–</span></div>
    <div class="stat"><span class="label">connections</span><span class="value" id="total">–</span></div>
    <div class="stat"><span class="label">spread (max − min)</span><span class="value" id="spread">–</span></div>
    <div class="stat"><span class="label">last update</span><span class="value" id="updated">–</span></div>
  </section>
  <section class="card">
    <h2>Balance over time</h2>
    <svg id="chart" role="img" aria-label="balance of each server over time"></svg>
    <div id="legend"></div>
  </section>
  <section class="card">
    <h2>Servers</h2>
    <table id="servers">
      <thead><tr><th>server</th><th>address</th><th class="num">balance</th><th class="num">max</th><th>state</th><th>load</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="two">
    <div class="card">
      <h2>Online users<span class="count" id="online-total">–</span></h2>
      <input id="online-prefix" type="search" placeholder="filter by prefix" autocomplete="off" spellcheck="false" aria-label="filter online users by prefix">
      <div id="online">
        <table>
          <thead><tr><th>user</th><th>server</th><th>since</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </div>
    <div class="card">
      <h2>Send a push</h2>
      <form id="push-form" autocomplete="off">
        <label>user<input id="push-user" placeholder="click a user in the list" spellcheck="false"></label>
        <label>message (JSON, or plain text)<textarea id="push-message" spellcheck="false">{"hello": "from the dashboard"}</textarea></label>
        <label>admin token (only when the service has a secret)<input id="push-auth" type="password" placeholder="Bearer token"></label>
        <div class="row"><button id="push-send" type="submit">Push</button><span class="hint">waits for the client's ack</span></div>
        <div id="push-result" data-state="idle" role="status">no push sent yet</div>
      </form>
    </div>
  </section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Only this page's own style and script run; it may talk to this origin only. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "connect-src 'self'",
  'img-src data:',
  `style-src ${hashOf(CSS)}`,
  `script-src ${hashOf(SCRIPT)}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
