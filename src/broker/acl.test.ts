import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { filterCovers, isValidTopicFilter, parseAcl } from './acl.js';

test('filterCovers matches topics like MQTT does', () => {
  const cases: [string, string, boolean][] = [
    ['STOCKPRICEUPDATE', 'STOCKPRICEUPDATE', true],
    ['STOCKPRICEUPDATE', 'STOCKPRICEUPDATE/x', false],
    ['+', 'STOCKPRICEUPDATE', true],
    ['+', 'a/b', false],
    ['+', '', true],
    ['ALERT/#', 'ALERT', true],
    ['ALERT/#', 'ALERT/a/b', true],
    ['ALERT/#', 'ALERTS', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+/c', 'a/b/c/d', false],
    ['a/+', 'a', false],
    ['#', 'anything/at/all', true],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
  ];
  for (const [pattern, topic, expected] of cases) {
    assert.equal(filterCovers(pattern, topic), expected, `${pattern} vs ${topic}`);
  }
});

test('filterCovers decides whether a subscription filter stays within a pattern', () => {
  const cases: [string, string, boolean][] = [
    ['#', '#', true],
    ['#', 'a/+/c', true],
    ['ALERT/#', 'ALERT/#', true],
    ['ALERT/#', 'ALERT/+', true],
    ['ALERT/#', '#', false],
    ['ALERT/+', 'ALERT/#', false],
    ['+', '+', true],
    ['+', '#', false],
    ['a/b', 'a/+', false],
    ['+/b', 'a/b', true],
    ['#', '$SYS/#', false],
  ];
  for (const [pattern, filter, expected] of cases) {
    assert.equal(filterCovers(pattern, filter), expected, `${pattern} covers ${filter}`);
  }
});

test('isValidTopicFilter', () => {
  for (const ok of ['#', '+', 'a/+/c', 'a/#', '/', 'a//b', '+/+'])
    assert.equal(isValidTopicFilter(ok), true, ok);
  for (const bad of ['', 'a#', 'a/#/b', 'a+/b', '#/a', 'a/b+'])
    assert.equal(isValidTopicFilter(bad), false, bad);
});

test('parseAcl reads the documented format', () => {
  const acl = parseAcl(
    "users:\n  alice:\n    publish: ['STOCKPRICEUPDATE', 'DEVICESTATUS_RES']\n    subscribe: ['+', 'ALERT/#']\n  bob:\n",
    'acl.yaml',
  );
  assert.deepEqual([...acl.users.keys()], ['alice', 'bob']);
  assert.equal(acl.canPublish('alice', 'STOCKPRICEUPDATE'), true);
  assert.equal(acl.canPublish('alice', 'ALERT/x'), false);
  assert.equal(acl.canSubscribe('alice', 'ALERT/#'), true);
  assert.equal(acl.canSubscribe('alice', '#'), false);
  assert.equal(acl.canSubscribe('bob', '+'), false);
  assert.equal(acl.canPublish('mallory', 'STOCKPRICEUPDATE'), false);
  assert.equal(acl.canPublish(undefined, 'STOCKPRICEUPDATE'), false);
});

test('parseAcl reads anonymous rules, which only clients without a user name get', () => {
  const acl = parseAcl(
    "anonymous:\n  publish: ['STOCKPRICEUPDATE']\n  subscribe: ['ALERT/#']\nusers:\n  alice:\n    subscribe: ['#']\n",
    'acl.yaml',
  );
  assert.deepEqual(acl.anonymous, { publish: ['STOCKPRICEUPDATE'], subscribe: ['ALERT/#'] });
  assert.equal(acl.canPublish(undefined, 'STOCKPRICEUPDATE'), true);
  assert.equal(acl.canPublish(undefined, 'ALERT/1'), false);
  assert.equal(acl.canSubscribe(undefined, 'ALERT/+'), true);
  assert.equal(acl.canSubscribe(undefined, '#'), false);
  assert.equal(acl.canPublish('alice', 'STOCKPRICEUPDATE'), false);
  assert.equal(acl.canSubscribe('alice', '#'), true);
  const empty = parseAcl('anonymous:\n', 'acl.yaml');
  assert.deepEqual(empty.anonymous, { publish: [], subscribe: [] });
  assert.equal(empty.canSubscribe(undefined, 'a'), false);
  assert.equal(parseAcl('users: {}\n', 'acl.yaml').anonymous, undefined);
});

test('parseAcl names the offending entry', () => {
  const invalid: [string, RegExp][] = [
    ["users:\n  alice:\n    publish: ['a/#/b']\n", /users\.alice\.publish\.0: not a valid MQTT topic filter/],
    ['users:\n  alice:\n    pubilsh: [a]\n', /users\.alice/],
    ['user:\n  alice: {}\n', /\(top level\)/],
    ['users: [\n', /ACL file acl\.yaml:/],
    ["anonymous:\n  subscribe: ['#/x']\n", /anonymous\.subscribe\.0: not a valid MQTT topic filter/],
  ];
  for (const [text, pattern] of invalid) {
    assert.throws(
      () => parseAcl(text, 'acl.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof TkmpromError);
        assert.equal(err.code, ErrorCodes.ACL_FILE_INVALID);
        assert.match(err.message, pattern);
        return true;
      },
    );
  }
});
