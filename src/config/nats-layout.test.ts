import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  partitionFilter,
  partitionOf,
  partitionOfBytes,
  streamSubjects,
  topicOfSubject,
} from './nats-layout.js';

test('partitionOf is FNV-1a 32 modulo n', () => {
  // Reference values of FNV-1a 32: "" is the offset basis, "a" is 0xe40c292c.
  assert.equal(partitionOf('', 0xffffffff), 0x811c9dc5 % 0xffffffff);
  assert.equal(partitionOf('a', 0xffffffff), 0xe40c292c);
  assert.equal(partitionOf('foobar', 0xffffffff), 0xbf9cf968);
  assert.equal(partitionOf('142B2FEB7A10', 3), 0);
  assert.equal(partitionOf('STOCKPRICEUPDATE', 3), 1);
  assert.equal(partitionOf('DEVICESTATUS', 3), 2);
  assert.equal(partitionOf('ü', 7), partitionOfBytes(Buffer.from('ü'), 7));
  for (const id of ['000000000000', 'FFFFFFFFFFFF', '142B2FEB7A10']) assert.equal(partitionOf(id, 1), 0);
});

test('topicOfSubject gives back the MQTT topic of every subject of the layout', () => {
  assert.equal(topicOfSubject('tkm.0.r.142B2FEB7A10'), '142B2FEB7A10');
  assert.equal(topicOfSubject('tkm.12.r.STOCKPRICEUP.DATE'), 'STOCKPRICEUPDATE');
  assert.equal(topicOfSubject('tkm.2.k.STOCKPRICEUPDATE'), 'STOCKPRICEUPDATE');
  assert.equal(topicOfSubject('tkm.1.LOG.142B2FEB7A10'), 'LOG/142B2FEB7A10');
  assert.equal(topicOfSubject('tkm.1.FIRMWAREUPDATE.142B2FEB7A10'), 'FIRMWAREUPDATE/142B2FEB7A10');
  assert.equal(topicOfSubject('tkm.1.x.LOG'), undefined);
  assert.equal(topicOfSubject('tkm.1.k.A.B'), undefined);
  assert.equal(topicOfSubject('other.1.r.A'), undefined);
  assert.equal(topicOfSubject('tkm.1.r.'), undefined);
  assert.equal(partitionFilter(4), 'tkm.4.*.*');
  assert.deepEqual(streamSubjects(), ['tkm.*.*.*', 'tkm.*.r.*.>']);
});
