import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TkmpromError } from '../errors.js';
import { loadConfig } from './load.js';

function tempFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): TkmpromError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TkmpromError);
    return err;
  }
  assert.fail('expected an error');
}

describe('configuration', () => {
  test('defaults', () => {
    const c = loadConfig({});
    assert.equal(c.mqtt.url, 'mqtt://127.0.0.1:1883');
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9883 });
    assert.equal(c.correlation.requestTimeout, 10_000);
    assert.equal(c.correlation.lateWindow, 10_000);
    assert.equal(c.fleet.deviceTimeout, 600_000);
    assert.equal(c.stats.window, 300_000);
    assert.equal(c.limits.maxSymbols, 5000);
    assert.equal(c.limits.maxPendingPerDevice, 32);
    assert.equal(c.perDeviceMetrics.max, 0);
    assert.equal(c.embeddedBroker, undefined);
  });

  test('flags win over environment, environment over file, file over defaults', () => {
    const file = tempFile(
      'mqtt:\n  url: mqtt://file:1883\n  password: fromfile\nlisten: 127.0.0.1:1111\ncorrelation:\n  requestTimeout: 3s\n',
    );
    const env = { TKMPROM_MQTT_URL: 'mqtt://env:1883', TKMPROM_LISTEN: '127.0.0.1:2222' };
    const c = loadConfig({ file, env, flags: { 'mqtt-url': 'mqtt://flag:1883' } });
    assert.equal(c.mqtt.url, 'mqtt://flag:1883');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 2222 });
    assert.equal(c.correlation.requestTimeout, 3000);
    assert.equal(c.correlation.lateWindow, 3000, 'the late window follows the timeout');
    assert.equal(c.mqtt.password, 'fromfile');
  });

  test('the batch window may be 0 (off); other durations may not', () => {
    assert.equal(loadConfig({}).mqtt.batchWindow, 50);
    assert.equal(loadConfig({ flags: { 'mqtt-batch-window': '0ms' } }).mqtt.batchWindow, 0);
    assert.equal(loadConfig({ env: { TKMPROM_MQTT_BATCH_WINDOW: '50ms' } }).mqtt.batchWindow, 50);
    const e = errorOf(() => loadConfig({ flags: { 'request-timeout': '0s' } }));
    assert.match(
      e.message,
      /correlation\.requestTimeout: expected a duration such as 500ms, 10s, 5m, got "0s"/,
    );
    const w = errorOf(() => loadConfig({ flags: { 'mqtt-batch-window': 'soon' } }));
    assert.match(w.message, /mqtt\.batchWindow: expected a duration such as 0ms, 20ms, 1s, got "soon"/);
  });

  test('a bad value names the field, the value, its source and what is allowed', () => {
    let e = errorOf(() => loadConfig({ flags: { 'request-timeout': 'ten' } }));
    assert.equal(e.code, 'TKM_CONFIG_INVALID');
    assert.match(
      e.message,
      /correlation\.requestTimeout: expected a duration such as 500ms, 10s, 5m, got "ten" \(from --request-timeout\)/,
    );
    e = errorOf(() => loadConfig({ env: { TKMPROM_LISTEN: 'nowhere' } }));
    assert.match(
      e.message,
      /listen: expected HOST:PORT such as 127\.0\.0\.1:9883, got "nowhere" \(from environment variable TKMPROM_LISTEN\)/,
    );
    const file = tempFile('limits:\n  maxPendingPerDevice: 4\n  bogus: 1\n');
    e = errorOf(() => loadConfig({ file }));
    assert.match(e.message, /limits\.maxPendingPerDevice: .*16.*got 4 \(from config file/);
    assert.match(e.message, /limits: unknown setting bogus/);
  });

  test('YAML syntax errors give the line', () => {
    const e = errorOf(() => loadConfig({ file: tempFile('mqtt:\n  url: [unclosed\n') }));
    assert.equal(e.code, 'TKM_CONFIG_FILE_SYNTAX');
    assert.match(e.message, /line \d+/);
  });

  test('a late window shorter than the timeout is refused', () => {
    const e = errorOf(() => loadConfig({ flags: { 'request-timeout': '10s', 'late-window': '5s' } }));
    assert.match(
      e.message,
      /correlation\.lateWindow: expected a duration of at least the request timeout \(10s\)/,
    );
  });

  test('stream rules need exactly one of symbol or pattern, and a valid pattern', () => {
    const ok = loadConfig({
      file: tempFile(
        'streams:\n  rules:\n    - { symbol: XAU, stream: commodities-api }\n    - { pattern: "^[A-Z]+/[A-Z]+$", stream: coingecko }\n',
      ),
    });
    assert.equal(ok.streams.rules.length, 2);
    const e = errorOf(() =>
      loadConfig({ file: tempFile('streams:\n  rules:\n    - { pattern: "([", stream: x }\n') }),
    );
    assert.match(e.message, /streams\.rules\.0\.pattern: not a valid regular expression/);
  });
  test('http: the defaults, and every setting from a flag or the environment', () => {
    assert.deepEqual(loadConfig({}).http, {
      maxConnections: 512,
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      idleTimeout: 30_000,
      sendTimeout: 30_000,
      maxConcurrentResponses: 64,
      apiRateLimit: 20,
      apiRateBurst: 40,
    });
    const c = loadConfig({
      flags: {
        'http-max-connections': '10',
        'http-headers-timeout': '2s',
        'http-request-timeout': '5s',
        'http-idle-timeout': '1m',
        'http-send-timeout': '500ms',
      },
      env: {
        TKMPROM_HTTP_MAX_CONCURRENT_RESPONSES: '8',
        TKMPROM_HTTP_API_RATE_LIMIT: '0.5',
        TKMPROM_HTTP_API_RATE_BURST: '3',
      },
    });
    assert.deepEqual(c.http, {
      maxConnections: 10,
      headersTimeout: 2000,
      requestTimeout: 5000,
      idleTimeout: 60_000,
      sendTimeout: 500,
      maxConcurrentResponses: 8,
      apiRateLimit: 0.5,
      apiRateBurst: 3,
    });
    assert.equal(loadConfig({ flags: { 'http-api-rate-limit': '0' } }).http.apiRateLimit, 0);
  });

  test('http: headers timeout longer than the request timeout, or a negative rate, is refused', () => {
    const e = errorOf(() =>
      loadConfig({ flags: { 'http-headers-timeout': '40s', 'http-request-timeout': '30s' } }),
    );
    assert.equal(e.code, 'TKM_CONFIG_INVALID');
    assert.match(
      e.message,
      /http\.headersTimeout: must be at most http\.requestTimeout \(30s\): the headers are part of the request/,
    );
    const r = errorOf(() => loadConfig({ env: { TKMPROM_HTTP_API_RATE_LIMIT: '-1' } }));
    assert.match(
      r.message,
      /http\.apiRateLimit: .*\(from environment variable TKMPROM_HTTP_API_RATE_LIMIT\)/,
    );
  });
});
