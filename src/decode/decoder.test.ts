import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecodedMessage, decodeMessage, ReplyClass } from './decoder.js';
import { classifyTopic, isDeviceId, TopicClass } from './topics.js';

const OPTS = { maxPayloadBytes: 4096 };
function decode(topic: string, payload: string | Buffer) {
  const out = new DecodedMessage();
  const ok = decodeMessage(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), out, OPTS);
  return { ok, out };
}

describe('topics', () => {
  test('device ids are exactly 12 upper-case hex digits', () => {
    assert.equal(isDeviceId('142B2FEB7A10'), true);
    assert.equal(isDeviceId('142b2feb7a10'), false);
    assert.equal(isDeviceId('142B2FEB7A1'), false);
    assert.equal(isDeviceId('142B2FEB7A1G'), false);
    assert.equal(isDeviceId('DEVICESTATUS'), false);
  });

  test('every topic of the protocol has its class; anything else is unknown', () => {
    assert.equal(classifyTopic('142B2FEB7A10'), TopicClass.Reply);
    assert.equal(classifyTopic('STOCKPRICEUPDATE'), TopicClass.Request);
    assert.equal(classifyTopic('DEVICESTATUS_RES'), TopicClass.Heartbeat);
    assert.equal(classifyTopic('TICKRMETERBOOT'), TopicClass.Boot);
    assert.equal(classifyTopic('DEVICE_BOOTED'), TopicClass.DeviceBooted);
    assert.equal(classifyTopic('HTTPSTREAMSTOCKS'), TopicClass.HttpStream);
    assert.equal(classifyTopic('DEVICESTATUS'), TopicClass.StatusPoll);
    assert.equal(classifyTopic('LOG/142B2FEB7A10'), TopicClass.Log);
    assert.equal(classifyTopic('ALERT/142B2FEB7A10'), TopicClass.Alert);
    assert.equal(classifyTopic('FIRMWAREUPDATE/142B2FEB7A10'), TopicClass.FirmwareUpdate);
    assert.equal(classifyTopic('SOMETHING_ELSE'), TopicClass.Unknown);
    assert.equal(classifyTopic('142b2feb7a10'), TopicClass.Unknown);
  });
});

describe('requests', () => {
  test('with and without a symbol', () => {
    let r = decode('STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10"}');
    assert.equal(r.ok, true);
    assert.equal(r.out.kind, 'request');
    assert.equal(r.out.device, '142B2FEB7A10');
    assert.equal(r.out.symbol, undefined);
    r = decode('STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10","symbol":"BTC/USD"}');
    assert.equal(r.out.symbol, 'BTC/USD');
    r = decode('STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10","symbol":""}');
    assert.equal(r.out.symbol, undefined, 'an empty symbol means none');
  });

  test('bad requests are invalid with a reason', () => {
    const cases: [string, string][] = [
      ['{"device":"142B2FEB7A10"}', 'missing_field'],
      ['{"type":"BOOT","device":"142B2FEB7A10"}', 'wrong_type'],
      ['{"type":"UPDATE"}', 'missing_field'],
      ['{"type":"UPDATE","device":42}', 'wrong_type'],
      ['{"type":"UPDATE","device":"nope"}', 'bad_device_id'],
      ['{"type":"UPDATE","device":"142B2FEB7A10","symbol":7}', 'bad_symbol'],
      [`{"type":"UPDATE","device":"142B2FEB7A10","symbol":"${'A'.repeat(33)}"}`, 'bad_symbol'],
      ['{"type":"UPDATE","device":"142B2FEB7A10","symbol":"A\\nB"}', 'bad_symbol'],
      ['{"type":"UPDATE",', 'bad_json'],
      ['[1,2]', 'not_object'],
      ['null', 'not_object'],
      ['"UPDATE"', 'not_object'],
    ];
    for (const [payload, reason] of cases) {
      const r = decode('STOCKPRICEUPDATE', payload);
      assert.equal(r.ok, false, payload);
      assert.equal(r.out.kind, 'invalid', payload);
      assert.equal(r.out.invalidReason, reason, payload);
    }
  });

  test('oversize payloads are dropped before parsing', () => {
    const r = decode('STOCKPRICEUPDATE', Buffer.alloc(5000, 0x20));
    assert.equal(r.out.invalidReason, 'oversize');
  });
});

describe('replies', () => {
  const D = '142B2FEB7A10';
  test('quote replies', () => {
    let r = decode(
      D,
      '{"type":"UPDATE","symbol":"AAPL","price":"$185.23","p":185.23,"isPlaylist":true,"updateInterval":120}',
    );
    assert.equal(r.out.kind, 'reply');
    assert.equal(r.out.device, D);
    assert.equal(r.out.replyClass, ReplyClass.Quote);
    assert.equal(r.out.replyType, 'UPDATE');
    assert.equal(r.out.isNew, false);
    assert.equal(r.out.updateIntervalSeconds, 120);
    r = decode(D, '{"type":"NEW","symbol":"TSLA","interval":"300"}');
    assert.equal(r.out.isNew, true);
    assert.equal(r.out.updateIntervalSeconds, 300, 'single-ticker replies say interval, as a string');
  });

  test('page mode, with and without error', () => {
    let r = decode(
      D,
      '{"mode":"page","page":[{"id":1,"ledColor":"green"}],"updateInterval":"300","ttl":3091}',
    );
    assert.equal(r.out.replyClass, ReplyClass.Quote);
    assert.equal(r.out.isPage, true);
    assert.equal(r.out.replyType, 'PAGE');
    r = decode(D, '{"type":"NEW","mode":"page","page":[],"error":"backend down"}');
    assert.equal(r.out.replyClass, ReplyClass.Error);
    assert.equal(r.out.replyType, 'PAGE_ERROR');
  });

  test('errors and answers that are not quotes', () => {
    const cases: [string, ReplyClass, string][] = [
      ['{"type":"STOCK_ERROR","message":"polygon: 429"}', ReplyClass.Error, 'STOCK_ERROR'],
      ['{"type":"INVALID_FORMAT"}', ReplyClass.Error, 'INVALID_FORMAT'],
      ['{"type":"NO_CONFIG"}', ReplyClass.NonQuote, 'NO_CONFIG'],
      ['{"type":"DEVICE_REG","code":"1234"}', ReplyClass.NonQuote, 'DEVICE_REG'],
      ['{"type":"DEVICE_REG_FAILURE"}', ReplyClass.NonQuote, 'DEVICE_REG_FAILURE'],
      ['{"type":"REG_SUCCESSFUL"}', ReplyClass.NonQuote, 'REG_SUCCESSFUL'],
      ['{"type":"DEVICE_ASSIGNED"}', ReplyClass.NonQuote, 'DEVICE_ASSIGNED'],
      ['{"type":"DEVICE_UNASSIGNED"}', ReplyClass.NonQuote, 'DEVICE_UNASSIGNED'],
      ['{"type":"SUCCESS"}', ReplyClass.NonQuote, 'SUCCESS'],
      ['{"type":"WHATEVER"}', ReplyClass.NonQuote, 'OTHER'],
      ['{"type":"UPDATE"}', ReplyClass.NonQuote, 'OTHER'],
      ['{}', ReplyClass.NonQuote, 'OTHER'],
    ];
    for (const [payload, cls, type] of cases) {
      const r = decode(D, payload);
      assert.equal(r.ok, true, payload);
      assert.equal(r.out.replyClass, cls, payload);
      assert.equal(r.out.replyType, type, payload);
    }
  });

  test('garbage on a device topic is invalid', () => {
    assert.equal(decode(D, '\u0000\u0001garbage').out.invalidReason, 'bad_json');
    assert.equal(decode(D, '{"type":5}').out.invalidReason, 'wrong_type');
  });
});

describe('heartbeats', () => {
  test('numbers as strings; absent is unknown, not zero', () => {
    let r = decode(
      'DEVICESTATUS_RES',
      '{"status":"online","firmware_version":"45p","device":"EC6260314DD0","battery":"78","vin":"2750","uptime":"3600","isCharging":"0","wflct":"2","iv":"elec+HB","xmc":"0","flashID":"C84017"}',
    );
    assert.equal(r.ok, true);
    assert.equal(r.out.kind, 'heartbeat');
    assert.deepEqual(
      [
        r.out.firmware,
        r.out.innerVersion,
        r.out.flashId,
        r.out.battery,
        r.out.vin,
        r.out.uptime,
        r.out.charging,
      ],
      ['45p', 'elec+HB', 'C84017', 78, 2750, 3600, 0],
    );
    assert.equal(r.out.wifiLost, 2);
    assert.equal(r.out.flashCheck, 0);
    r = decode(
      'DEVICESTATUS_RES',
      '{"status":"online","firmware_version":"1.81","device":"EC6260314DD0","battery":"40","uptime":"10"}',
    );
    assert.equal(r.out.innerVersion, undefined);
    assert.equal(r.out.flashId, undefined);
    assert.ok(Number.isNaN(r.out.vin));
    assert.ok(Number.isNaN(r.out.wifiLost));
    assert.equal(r.out.charging, -1);
  });

  test('out-of-range readings are invalid', () => {
    const r = decode('DEVICESTATUS_RES', '{"device":"EC6260314DD0","battery":"140"}');
    assert.equal(r.out.invalidReason, 'out_of_range');
    assert.equal(
      decode('DEVICESTATUS_RES', '{"device":"EC6260314DD0","vin":"9999"}').out.invalidReason,
      'out_of_range',
    );
  });
});

describe('other topics', () => {
  test('boot, DEVICE_BOOTED, HTTPSTREAMSTOCKS', () => {
    assert.equal(decode('TICKRMETERBOOT', '{"type":"BOOT","device":"4022D8E2FB0C"}').out.kind, 'boot');
    assert.equal(
      decode('DEVICE_BOOTED', '{"type":"BOOT","device":"4022D8E2FB0C"}').out.kind,
      'device_booted',
    );
    const r = decode(
      'HTTPSTREAMSTOCKS',
      '{"device":"4022D8E2FB0C","params":{"getQuoteParams":{"stream":"commodities-api","market":"x","symbol":"XAU"},"configObject":{},"userTimeParams":{}}}',
    );
    assert.equal(r.out.kind, 'http_stream_request');
    assert.equal(r.out.stream, 'commodities-api');
    assert.equal(r.out.symbol, 'XAU');
    assert.equal(
      decode('HTTPSTREAMSTOCKS', '{"device":"4022D8E2FB0C","params":{}}').out.invalidReason,
      'missing_field',
    );
  });

  test('log, alert and firmware orders name their device from the topic, without parsing', () => {
    let r = decode('LOG/4022D8E2FB0C', 'free text, not json {');
    assert.equal(r.out.kind, 'log');
    assert.equal(r.out.device, '4022D8E2FB0C');
    r = decode('ALERT/4022D8E2FB0C', '{"type":"DISABLE"}');
    assert.equal(r.out.kind, 'alert');
    r = decode('FIRMWAREUPDATE/nothex', '{"version":"70p"}');
    assert.equal(r.out.kind, 'firmware_update');
    assert.equal(r.out.device, '');
    assert.equal(decode('DEVICESTATUS', '{"action":"status"}').out.kind, 'status_poll');
    assert.equal(decode('SOMEWHERE', 'x').out.kind, 'unknown_topic');
  });
});
