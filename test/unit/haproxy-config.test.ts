import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HAPROXY_MAXCONN, haproxyConfig } from '../../bench/haproxy.js';

test('bench haproxy - config is TCP leastconn on loopback over every backend', () => {
  const cfg = haproxyConfig(32001, { backends: [{ host: '127.0.0.1', port: 4001 }, { host: '127.0.0.1', port: 4002 }] });
  const lines = cfg.split('\n').map((l) => l.trim());
  assert.ok(lines.includes('mode tcp'));
  assert.ok(lines.includes('balance leastconn'));
  assert.ok(lines.includes('bind 127.0.0.1:32001'));
  assert.deepEqual(lines.filter((l) => l.startsWith('server ')), [`server s0 127.0.0.1:4001 maxconn ${DEFAULT_HAPROXY_MAXCONN}`, `server s1 127.0.0.1:4002 maxconn ${DEFAULT_HAPROXY_MAXCONN}`]);
  assert.ok(!/0\.0\.0\.0|\*:/.test(cfg), 'never binds beyond loopback');
  assert.ok(lines.includes(`maxconn ${DEFAULT_HAPROXY_MAXCONN}`));
});

test('bench haproxy - maxconn is configurable and fits two descriptors per connection under 20,000', () => {
  assert.ok(DEFAULT_HAPROXY_MAXCONN * 2 < 20_000);
  const cfg = haproxyConfig(32002, { backends: [{ host: '127.0.0.1', port: 4001 }], maxconn: 123 });
  assert.match(cfg, /global\n {2}maxconn 123\n/);
  assert.match(cfg, /server s0 127\.0\.0\.1:4001 maxconn 123/);
});
