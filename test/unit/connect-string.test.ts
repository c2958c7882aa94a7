import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ZK_CONNECT, parseConnectString } from '../../src/zk/connect-string.js';
import { InvalidArgumentError } from '../../src/errors.js';

function assertRejected(s: string): void {
  assert.throws(
    () => parseConnectString(s),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, `${JSON.stringify(s)}: got ${String(e)}`);
      assert.equal(e.code, 'FULCRUM_INVALID_ARGUMENT');
      assert.match(e.message, /--zk/, `message names --zk: ${e.message}`);
      return true;
    },
    JSON.stringify(s),
  );
}

test('connect-string - accepts a single host', () => {
  assert.deepEqual(parseConnectString('127.0.0.1:2181'), { hosts: [{ host: '127.0.0.1', port: 2181 }], chroot: undefined });
  assert.deepEqual(parseConnectString('zk-1.example.com:1'), { hosts: [{ host: 'zk-1.example.com', port: 1 }], chroot: undefined });
  assert.deepEqual(parseConnectString('localhost:65535').hosts, [{ host: 'localhost', port: 65535 }]);
  assert.equal(parseConnectString(DEFAULT_ZK_CONNECT).hosts.length, 1);
});

test('connect-string - accepts several hosts', () => {
  assert.deepEqual(parseConnectString('10.0.0.1:2181,10.0.0.2:2182,zk3:2183').hosts, [
    { host: '10.0.0.1', port: 2181 },
    { host: '10.0.0.2', port: 2182 },
    { host: 'zk3', port: 2183 },
  ]);
});

test('connect-string - accepts bracketed IPv6', () => {
  assert.deepEqual(parseConnectString('[::1]:2181').hosts, [{ host: '[::1]', port: 2181 }]);
  assert.deepEqual(parseConnectString('[fe80::1]:2181,127.0.0.1:2182').hosts, [
    { host: '[fe80::1]', port: 2181 },
    { host: '127.0.0.1', port: 2182 },
  ]);
});

test('connect-string - accepts a chroot', () => {
  assert.deepEqual(parseConnectString('127.0.0.1:2181/app'), { hosts: [{ host: '127.0.0.1', port: 2181 }], chroot: '/app' });
  assert.deepEqual(parseConnectString('a:1,b:2/app/sub'), {
    hosts: [
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ],
    chroot: '/app/sub',
  });
});

test('connect-string - rejects empty input', () => {
  for (const s of ['', ' ', '\t']) assertRejected(s);
});

test('connect-string - rejects a missing port', () => {
  for (const s of ['127.0.0.1', '127.0.0.1:', 'localhost', '127.0.0.1:2181,zk2', '[::1]', '::1:2181', ':2181']) assertRejected(s);
});

test('connect-string - rejects ports out of range or not numeric', () => {
  for (const s of ['127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1:65536', '127.0.0.1:123456', 'host:abc', 'host:-1', 'host:21a', 'host:2181,host:0']) assertRejected(s);
});

test('connect-string - rejects trailing or doubled commas', () => {
  for (const s of ['127.0.0.1:2181,', ',127.0.0.1:2181', '127.0.0.1:2181,,127.0.0.1:2182']) assertRejected(s);
});

test('connect-string - rejects spaces inside a host entry and bad chroots', () => {
  for (const s of ['127.0.0.1 :2181', '127.0.0.1: 2181', '127 .0.0.1:2181', 'nonsense', 'http://127.0.0.1:2181', '127.0.0.1:2181/', '127.0.0.1:2181//a', '127.0.0.1:2181/a b', '127.0.0.1:2181/a/']) {
    assertRejected(s);
  }
});

test('connect-string - rejects spaces around host entries', () => {
  for (const s of [' 127.0.0.1:2181', '127.0.0.1:2181 ', '127.0.0.1:2181, 127.0.0.1:2182']) assertRejected(s);
});
