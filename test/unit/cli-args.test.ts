import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intFlag, parseCli, UsageError, zkTarget, ZK_OPTIONS } from '../../src/tools/cli/args.js';
import { FulcrumError, InvalidArgumentError } from '../../src/errors.js';
import { DEFAULT_ZK_CONNECT } from '../../src/zk/connect-string.js';
import { DEFAULT_ROOT } from '../../src/zk/paths.js';

function isUsage(name: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
    assert.ok(e instanceof FulcrumError);
    assert.equal(e.code, 'FULCRUM_USAGE');
    assert.match(e.message, new RegExp(`--${name}`));
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return true;
  };
}

/** Runs fn with FULCRUM_ZK / FULCRUM_ROOT set (or unset) and restores them afterwards. */
function withEnv<T>(env: { FULCRUM_ZK?: string; FULCRUM_ROOT?: string }, fn: () => T): T {
  const saved = { FULCRUM_ZK: process.env.FULCRUM_ZK, FULCRUM_ROOT: process.env.FULCRUM_ROOT };
  const set = (k: 'FULCRUM_ZK' | 'FULCRUM_ROOT', v: string | undefined) => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  set('FULCRUM_ZK', env.FULCRUM_ZK);
  set('FULCRUM_ROOT', env.FULCRUM_ROOT);
  try {
    return fn();
  } finally {
    set('FULCRUM_ZK', saved.FULCRUM_ZK);
    set('FULCRUM_ROOT', saved.FULCRUM_ROOT);
  }
}

test('cli-args - intFlag parses integers within range', () => {
  assert.equal(intFlag({ count: '5' }, 'count', undefined, 1, 200), 5);
  assert.equal(intFlag({ count: '1' }, 'count', undefined, 1, 200), 1);
  assert.equal(intFlag({ count: '200' }, 'count', undefined, 1, 200), 200);
  assert.equal(intFlag({ n: '0' }, 'n', 7), 0);
  assert.equal(intFlag({ n: '-3' }, 'n', 7, -5, 5), -3);
  assert.equal(intFlag({ n: ' 42 ' }, 'n', 7), 42);
  assert.equal(intFlag({ n: String(Number.MAX_SAFE_INTEGER) }, 'n', 7), Number.MAX_SAFE_INTEGER);
});

test('cli-args - intFlag uses the fallback when absent and requires it otherwise', () => {
  assert.equal(intFlag({}, 'stagger-ms', 10), 10);
  assert.equal(intFlag({ other: 'x' }, 'stagger-ms', 10, 0, 5), 10, 'the fallback is not range-checked');
  assert.throws(() => intFlag({}, 'count', undefined), (e: unknown) => isUsage('count')(e) && /required/.test((e as Error).message));
});

test('cli-args - intFlag rejects non-integers', () => {
  for (const raw of ['1.5', 'abc', '', ' ', '1e3', '0x10', '10ms', '+5', '--5', 'NaN', 'Infinity', '5 6', '9007199254740993']) {
    assert.throws(() => intFlag({ count: raw }, 'count', 1), isUsage('count'), JSON.stringify(raw));
  }
  for (const raw of [true, false, 5, null, ['5']]) {
    assert.throws(() => intFlag({ count: raw }, 'count', 1), isUsage('count'), String(raw));
  }
});

test('cli-args - intFlag rejects values outside [min, max]', () => {
  assert.throws(() => intFlag({ 'stagger-ms': '-1' }, 'stagger-ms', 10, 0), isUsage('stagger-ms'));
  assert.throws(() => intFlag({ 'stagger-ms': '-5' }, 'stagger-ms', 10, 0, 60_000), isUsage('stagger-ms'));
  assert.throws(() => intFlag({ count: '0' }, 'count', undefined, 1, 200), isUsage('count'));
  assert.throws(() => intFlag({ count: '201' }, 'count', undefined, 1, 200), isUsage('count'));
  const e = (() => {
    try {
      intFlag({ count: 'abc' }, 'count', undefined, 1, 200);
    } catch (err) {
      return err as Error;
    }
    return undefined;
  })();
  assert.ok(e);
  assert.match(e.message, /between 1 and 200/);
  assert.match(e.message, /"abc"/);
});

test('cli-args - parseCli turns parseArgs complaints into a one-line UsageError', () => {
  assert.throws(
    () => parseCli(['--bogus'], ZK_OPTIONS, 'help'),
    (e: unknown) => e instanceof UsageError && e.code === 'FULCRUM_USAGE' && /--bogus/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(() => parseCli(['extra'], ZK_OPTIONS, 'help'), UsageError);
  assert.throws(() => parseCli(['--zk'], ZK_OPTIONS, 'help'), UsageError, 'string option without a value');
  assert.deepEqual({ ...parseCli(['--zk', 'a:1', '--root', '/x'], ZK_OPTIONS, 'help').values }, { zk: 'a:1', root: '/x' });
  assert.deepEqual(parseCli(['start'], ZK_OPTIONS, 'help', true).positionals, ['start']);
});

test('cli-args - zkTarget falls back to defaults', () => {
  withEnv({}, () => assert.deepEqual(zkTarget({}), { zk: DEFAULT_ZK_CONNECT, root: DEFAULT_ROOT }));
});

test('cli-args - zkTarget honours FULCRUM_ZK and FULCRUM_ROOT', () => {
  withEnv({ FULCRUM_ZK: '10.1.1.1:2281,10.1.1.2:2281', FULCRUM_ROOT: '/env/servers' }, () => {
    assert.deepEqual(zkTarget({}), { zk: '10.1.1.1:2281,10.1.1.2:2281', root: '/env/servers' });
    // Flags win over the environment.
    assert.deepEqual(zkTarget({ zk: '127.0.0.1:9999', root: '/flag/servers' }), { zk: '127.0.0.1:9999', root: '/flag/servers' });
    assert.deepEqual(zkTarget({ root: '/flag/servers' }), { zk: '10.1.1.1:2281,10.1.1.2:2281', root: '/flag/servers' });
  });
});

test('cli-args - zkTarget validates flags and environment', () => {
  const bad = (e: unknown, name: string) => e instanceof InvalidArgumentError && e.code === 'FULCRUM_INVALID_ARGUMENT' && e.message.includes(name);
  withEnv({}, () => {
    assert.throws(() => zkTarget({ zk: 'nonsense' }), (e) => bad(e, '--zk'));
    assert.throws(() => zkTarget({ zk: '' }), (e) => bad(e, '--zk'));
    assert.throws(() => zkTarget({ root: 'relative/path' }), (e) => bad(e, '--root'));
    assert.throws(() => zkTarget({ root: '/' }), (e) => bad(e, '--root'));
    assert.throws(() => zkTarget({ root: '/a//b' }), (e) => bad(e, '--root'));
    assert.throws(() => zkTarget({ root: '/a/' }), (e) => bad(e, '--root'));
    assert.throws(() => zkTarget({ root: '/a b' }), (e) => bad(e, '--root'));
  });
  withEnv({ FULCRUM_ZK: 'nonsense' }, () => assert.throws(() => zkTarget({}), (e) => bad(e, 'nonsense')));
  withEnv({ FULCRUM_ZK: '127.0.0.1:0' }, () => assert.throws(() => zkTarget({}), InvalidArgumentError));
  withEnv({ FULCRUM_ROOT: 'relative' }, () => assert.throws(() => zkTarget({}), (e) => bad(e, 'relative')));
  // A valid flag does not excuse an invalid env value for the other setting.
  withEnv({ FULCRUM_ROOT: 'relative' }, () => assert.throws(() => zkTarget({ zk: '127.0.0.1:2181' }), InvalidArgumentError));
  // But a flag replaces a bad env value of the same setting.
  withEnv({ FULCRUM_ZK: 'nonsense' }, () => assert.equal(zkTarget({ zk: '127.0.0.1:2181' }).zk, '127.0.0.1:2181'));
});
