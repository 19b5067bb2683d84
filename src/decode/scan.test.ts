import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodedMessage, decodeMessage } from './decoder.js';
import { REPLY_KEYS, scanFields } from './scan.js';
import { mulberry32 } from '../sim/index.js';

/** Both paths of the decoder must agree on every message: the scanner's and JSON.parse's. */
function agree(topic: string, payload: Buffer): void {
  const fast = new DecodedMessage();
  const slow = new DecodedMessage();
  const a = decodeMessage(topic, payload, fast, { maxPayloadBytes: 16_384 });
  const b = decodeMessage(topic, payload, slow, { maxPayloadBytes: 16_384, parseOnly: true });
  const where = `${topic} ${JSON.stringify(payload.toString('latin1'))}`;
  assert.equal(a, b, where);
  for (const key of Object.keys(slow) as (keyof DecodedMessage)[]) {
    assert.ok(
      Object.is(fast[key], slow[key]),
      `${String(key)}: ${String(fast[key])} vs ${String(slow[key])} for ${where}`,
    );
  }
}

const TOPICS = ['STOCKPRICEUPDATE', 'DEVICESTATUS_RES', 'TICKRMETERBOOT', 'DEVICE_BOOTED', '142B2FEB7A10'];
const KEYS = [
  'type',
  'device',
  'symbol',
  'mode',
  'error',
  'interval',
  'updateInterval',
  'firmware_version',
  'iv',
  'flashID',
  'battery',
  'vin',
  'uptime',
  'wflct',
  'xmc',
  'isCharging',
  'price',
  'page',
  'p',
];
const STRINGS = [
  '',
  'UPDATE',
  'NEW',
  'page',
  'STOCK_ERROR',
  'INVALID_FORMAT',
  'NO_CONFIG',
  'DEVICE_REG',
  'online',
  '142B2FEB7A10',
  '142b2feb7a10',
  'AAPL',
  'BTC/USD',
  'NOVO.B',
  '0',
  '1',
  '78',
  ' 12 ',
  '4095',
  '-1',
  '1e3',
  '0x1F',
  'Infinity',
  '45p',
  'elec+HB',
  'ÆØÅ€',
  'a"b',
  'back\\slash',
  'tab\there',
  'x'.repeat(40),
  '\u0000',
  '\u007f',
];

function randomString(r: () => number): string {
  return STRINGS[Math.floor(r() * STRINGS.length)]!;
}

/** A JSON string token, sometimes with escapes JSON.stringify would not write. */
function stringToken(r: () => number, s: string): string {
  const t = JSON.stringify(s);
  if (r() < 0.15 && s.length > 0) {
    const i = Math.floor(r() * s.length);
    const code = s.charCodeAt(i).toString(16).padStart(4, '0');
    return `${JSON.stringify(s.slice(0, i)).slice(0, -1)}\\u${r() < 0.5 ? code : code.toUpperCase()}${JSON.stringify(s.slice(i + 1)).slice(1)}`;
  }
  if (r() < 0.05) return t.replace(/\//g, '\\/');
  return t;
}

const NUMBERS = [
  '0',
  '-0',
  '1',
  '1.0',
  '78',
  '4095',
  '-1',
  '1e3',
  '1E+2',
  '2.5e-3',
  '123456789012345678901234',
  '0.1',
];

function randomValue(r: () => number, depth: number): string {
  const u = r();
  if (u < 0.45) return stringToken(r, randomString(r));
  if (u < 0.65) return NUMBERS[Math.floor(r() * NUMBERS.length)]!;
  if (u < 0.72) return 'null';
  if (u < 0.77) return r() < 0.5 ? 'true' : 'false';
  if (depth > 3) return '1';
  if (u < 0.88) return randomObject(r, depth + 1);
  const items: string[] = [];
  for (let i = Math.floor(r() * 4); i > 0; i--) items.push(randomValue(r, depth + 1));
  return `[${items.join(ws(r) + ',' + ws(r))}]`;
}

function ws(r: () => number): string {
  const u = r();
  return u < 0.8 ? '' : u < 0.9 ? ' ' : ['\t', '\n', '\r\n ', '  '][Math.floor(r() * 4)]!;
}

function randomObject(r: () => number, depth: number): string {
  const pairs: string[] = [];
  for (let i = Math.floor(r() * 8); i > 0; i--) {
    const key = r() < 0.9 ? KEYS[Math.floor(r() * KEYS.length)]! : randomString(r);
    pairs.push(`${ws(r)}${stringToken(r, key)}${ws(r)}:${ws(r)}${randomValue(r, depth)}${ws(r)}`);
  }
  return `{${pairs.join(',')}}`;
}

function mutate(r: () => number, b: Buffer): Buffer {
  const bytes = [...b];
  const edits = 1 + Math.floor(r() * 3);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(r() * (bytes.length + 1));
    const u = r();
    const junk = [
      0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0x20, 0x30, 0x2d, 0x65, 0xc3, 0xa9, 0xff, 0xe2,
    ][Math.floor(r() * 17)]!;
    if (u < 0.35) bytes.splice(at, 1);
    else if (u < 0.7) bytes.splice(at, 0, junk);
    else if (u < 0.9) bytes[Math.min(at, bytes.length - 1)] = junk;
    else bytes.length = at;
  }
  return Buffer.from(bytes);
}

test('the scanner and JSON.parse decode the realistic messages alike', () => {
  const payloads: Array<[string, string]> = [
    ['STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10"}'],
    ['STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10","symbol":"AAPL"}'],
    [
      'DEVICESTATUS_RES',
      '{"status":"online","firmware_version":"45p","device":"EC6260314DD0","battery":"78","vin":"2750","uptime":"3600","isCharging":"0","wflct":"2","iv":"elec+HB", "xmc":"0", "flashID":"C84017"}',
    ],
    [
      '142B2FEB7A10',
      '{"type":"UPDATE","symbol":"AAPL","price":"$185.23","p":185.23,"percent":"1 day -0.78%","date":"05:38PM 26 Jun 2023","currency":"$","name":"Apple","isPlaylist":true,"symbols":"NTCT,BITF,PLTR","symbolIndex":2,"cycleInterval":30,"updateInterval":120,"ledBrightness":50,"alertEnabled":false}',
    ],
    [
      '142B2FEB7A10',
      '{"mode":"page","page":[{"id":1,"ledColor":"green","rev":3,"blink":false,"alert":false}],"updateInterval":"300","ttl":3091}',
    ],
    ['142B2FEB7A10', '{"mode":"page","page":[],"error":"no data"}'],
    ['142B2FEB7A10', '{"type":"STOCK_ERROR","symbol":"XYZ","message":"not found"}'],
    ['TICKRMETERBOOT', '{"type":"BOOT","device":"4022D8E2FB0C"}'],
    ['142B2FEB7A10', '{"type":"NEW","symbol":"BTC/USD","interval":60}'],
    ['142B2FEB7A10', '{"type":"UPDATE","symbol":"AAPL","updateInterval":null,"interval":"300"}'],
    ['142B2FEB7A10', '{"type":"UPDATE","type":"NEW","symbol":"AAPL"}'],
    ['142B2FEB7A10', '{"typ\\u0065":"NEW","symbol":"AAPL"}'],
    ['142B2FEB7A10', '{"type":"UPD\\u0041TE","symbol":"\\u00c6\\u00d8"}'],
    ['STOCKPRICEUPDATE', '\ufeff{"type":"UPDATE","device":"142B2FEB7A10"}'],
    ['STOCKPRICEUPDATE', '[{"type":"UPDATE"}]'],
    ['STOCKPRICEUPDATE', '"text"'],
    ['STOCKPRICEUPDATE', ''],
    ['STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10"} x'],
    ['STOCKPRICEUPDATE', `{"a":${'['.repeat(40)}${']'.repeat(40)},"type":"UPDATE","device":"142B2FEB7A10"}`],
  ];
  for (const [topic, text] of payloads) agree(topic, Buffer.from(text, 'utf8'));
  // Bytes that are not UTF-8, inside and outside strings.
  agree(
    '142B2FEB7A10',
    Buffer.from([...Buffer.from('{"type":"UPDATE","symbol":"A'), 0xe2, 0x82, 0x22, 0x7d]),
  );
  agree('142B2FEB7A10', Buffer.from([...Buffer.from('{"type":"UPDATE","symbol":"A"'), 0xff, 0x7d]));
});

test('the scanner and JSON.parse agree on random and broken payloads', () => {
  const r = mulberry32(20_261_124);
  let scanned = 0;
  let declined = 0;
  for (let i = 0; i < 30_000; i++) {
    const topic = TOPICS[Math.floor(r() * TOPICS.length)]!;
    let payload: Buffer = Buffer.from(randomObject(r, 0), 'utf8');
    if (r() < 0.3) payload = mutate(r, payload);
    agree(topic, payload);
    if (scanFields(payload, REPLY_KEYS) === undefined) declined++;
    else scanned++;
  }
  // Both paths must have been exercised for the agreement to mean anything.
  assert.ok(scanned > 10_000 && declined > 3000, `scanned ${scanned}, declined ${declined}`);
});

test('the scanner declines what it does not vouch for', () => {
  assert.equal(scanFields(Buffer.from('[1]'), REPLY_KEYS), undefined);
  assert.equal(scanFields(Buffer.from('{"a":1,}'), REPLY_KEYS), undefined);
  assert.equal(scanFields(Buffer.from('{"\\u0074ype":"UPDATE"}'), REPLY_KEYS), undefined);
  assert.equal(scanFields(Buffer.from('{"a":01}'), REPLY_KEYS), undefined);
  assert.equal(scanFields(Buffer.from('{"a":"\t"}'), REPLY_KEYS), undefined);
  const f = scanFields(Buffer.from(' {"type":"UPDATE","page":{"type":"x"},"battery":"7"} '), REPLY_KEYS);
  assert.equal(f?.type, 'UPDATE');
  // Not a key replies read: left undefined.
  assert.equal(f?.battery, undefined);
});
