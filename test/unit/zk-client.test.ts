import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZkError } from '../../src/errors.js';
import { C, isConnectionProblem, isZk } from '../../src/zk/codes.js';
import { toZkError, zkCodeOf } from '../../src/zk/zk-client.js';

test('zk-client - both native error formats parse to the numeric code, once, into a ZkError', () => {
  const async = toZkError('set', '/a', new Error('-103 bad version'));
  assert.ok(async instanceof ZkError);
  assert.equal(async.zkCode, C.ZBADVERSION);
  assert.equal(async.op, 'set');
  assert.equal(async.path, '/a');
  assert.equal(async.code, 'FULCRUM_ZK_OPERATION');
  assert.equal((async.cause as Error).message, '-103 bad version');
  const sync = toZkError('get', 'no-slash', new Error('fn: "a_get" args: "no-slash,false" result: "ZBADARGUMENTS -8"'));
  assert.equal(sync.zkCode, C.ZBADARGUMENTS);
  assert.equal(toZkError('get', '/x', sync), sync, 'a ZkError is not wrapped twice');
  assert.equal(zkCodeOf(new Error('fn: "a_exists" args: "/x,false" result: "ZINVALIDSTATE -9"')), C.ZINVALIDSTATE);
  assert.equal(zkCodeOf(new Error('something else')), undefined);
  assert.equal(toZkError('get', '/y', new TypeError('boom')).zkCode, C.ZSYSTEMERROR);
});

test('zk-client - isZk and isConnectionProblem look at ZkError only', () => {
  assert.equal(isZk(new ZkError('get', '/a', C.ZNONODE), C.ZNONODE), true);
  assert.equal(isZk(new Error('-101 no node'), C.ZNONODE), false, 'no text matching outside the wrapper');
  assert.equal(isConnectionProblem(new ZkError('set', '/a', C.ZCONNECTIONLOSS)), true);
  assert.equal(isConnectionProblem(new ZkError('set', '/a', C.ZBADVERSION)), false);
});
