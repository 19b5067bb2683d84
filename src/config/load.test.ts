import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { TkmpromError } from '../errors.js';
import { loadConfig, settingName } from './load.js';
import { DEFAULT_STREAM_RULES } from './schema.js';
import { isSecretSetting } from './secrets.js';
import { closest, editDistance } from './suggest.js';

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

  test('default stream rules: those of examples/tkmprom.yaml; an explicit empty list means none', () => {
    const example = new URL('../../examples/tkmprom.yaml', import.meta.url);
    const fromFile = (parse(readFileSync(example, 'utf8')) as { streams: { rules: unknown } }).streams.rules;
    assert.deepEqual(fromFile, DEFAULT_STREAM_RULES, 'the example lists the defaults');
    assert.deepEqual(loadConfig({}).streams.rules, DEFAULT_STREAM_RULES);
    assert.deepEqual(loadConfig({ file: example.pathname }).streams.rules, DEFAULT_STREAM_RULES);
    assert.deepEqual(loadConfig({ file: tempFile('streams:\n  rules: []\n') }).streams.rules, []);
    const own = [{ symbol: 'AAPL', stream: 'polygon' }];
    assert.deepEqual(
      loadConfig({ file: tempFile('streams:\n  rules:\n    - { symbol: AAPL, stream: polygon }\n') }).streams
        .rules,
      own,
      'configured rules replace the defaults, not add to them',
    );
    const a = loadConfig({}).streams.rules;
    a.push({ symbol: 'X', stream: 'y' });
    assert.equal(loadConfig({}).streams.rules.length, DEFAULT_STREAM_RULES.length, 'each load its own copy');
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

  test('stats.histograms: native by default, from flag, environment or file, and nothing else', () => {
    assert.equal(loadConfig({}).stats.histograms, 'native');
    assert.equal(loadConfig({ flags: { histograms: 'classic' } }).stats.histograms, 'classic');
    assert.equal(loadConfig({ env: { TKMPROM_STATS_HISTOGRAMS: 'both' } }).stats.histograms, 'both');
    assert.equal(
      loadConfig({ file: tempFile('stats:\n  histograms: classic\n') }).stats.histograms,
      'classic',
    );
    const e = errorOf(() => loadConfig({ flags: { histograms: 'sparse' } }));
    assert.equal(e.code, 'TKM_CONFIG_INVALID');
    assert.match(e.message, /stats\.histograms/);
    assert.match(e.message, /sparse/);
    assert.match(e.message, /--histograms/);
  });

  test('the batch window may be 0 (off); other durations may not, and say why', () => {
    assert.equal(loadConfig({}).mqtt.batchWindow, 50);
    assert.equal(loadConfig({ flags: { 'mqtt-batch-window': '0ms' } }).mqtt.batchWindow, 0);
    assert.equal(loadConfig({ env: { TKMPROM_MQTT_BATCH_WINDOW: '50ms' } }).mqtt.batchWindow, 50);
    const e = errorOf(() => loadConfig({ flags: { 'request-timeout': '0s' } }));
    assert.equal(
      e.message,
      'invalid configuration:\n  correlation.requestTimeout (--request-timeout): must be a positive duration such as 10s; a request needs time to be answered, got "0s"',
    );
    const w = errorOf(() => loadConfig({ flags: { 'mqtt-batch-window': 'soon' } }));
    assert.equal(
      w.message,
      'invalid configuration:\n  mqtt.batchWindow (--mqtt-batch-window): expected a duration such as 50ms (a number and ms, s, m, h or d), or 0ms to read every message at once, got "soon"',
    );
  });

  test('broker.sysInterval: 10s by default, 0s turns it off, from a flag, the environment or the file', () => {
    assert.equal(loadConfig({}).broker.sysInterval, 10_000);
    assert.equal(loadConfig({ env: { TKMPROM_BROKER_SYS_INTERVAL: '0s' } }).broker.sysInterval, 0);
    assert.equal(loadConfig({ flags: { 'broker-sys-interval': '1m' } }).broker.sysInterval, 60_000);
    assert.equal(loadConfig({ file: tempFile('broker:\n  sysInterval: 2s\n') }).broker.sysInterval, 2_000);
    const err = errorOf(() => loadConfig({ env: { TKMPROM_BROKER_SYS_INTERVAL: '10ms' } }));
    assert.match(
      err.message,
      /broker\.sysInterval \(TKMPROM_BROKER_SYS_INTERVAL\): expected 0s \(no \$SYS topics\) or at least 1s, got "10ms"/,
    );
  });

  test('a bad value names the field, where it came from, the value and what is allowed', () => {
    let e = errorOf(() => loadConfig({ flags: { 'request-timeout': 'ten' } }));
    assert.equal(e.code, 'TKM_CONFIG_INVALID');
    assert.equal(
      e.message,
      'invalid configuration:\n  correlation.requestTimeout (--request-timeout): expected a duration such as 10s (a number and ms, s, m, h or d), got "ten"',
    );
    e = errorOf(() => loadConfig({ env: { TKMPROM_LISTEN: 'nowhere' } }));
    assert.equal(
      e.message,
      'invalid configuration:\n  listen (TKMPROM_LISTEN): expected HOST:PORT such as 127.0.0.1:9883, got "nowhere"',
    );
    const file = tempFile('limits:\n  maxPendingPerDevice: 4\n  bogus: 1\n');
    e = errorOf(() => loadConfig({ file }));
    assert.equal(
      e.message,
      [
        'invalid configuration:',
        `  limits.maxPendingPerDevice (${file} line 2): must be at least 16; fewer would evict the requests of a device that asks in quick succession before their replies come, got 4`,
        `  limits.bogus (${file} line 3): unknown setting; the settings under limits are maxDevices, maxSymbols, maxStreams, maxPendingPerDevice, maxPendingTotal, maxPayloadBytes, maxLabelValues (examples/tkmprom.yaml lists every setting)`,
      ].join('\n'),
    );
  });

  test('a number that is not one says what it got, not NaN', () => {
    const cases: [Record<string, string>, Record<string, string>, string][] = [
      [
        { 'max-devices': 'lots' },
        {},
        'limits.maxDevices (--max-devices): expected a whole number, got "lots"',
      ],
      [{ 'max-devices': '1.5' }, {}, 'limits.maxDevices (--max-devices): expected a whole number, got "1.5"'],
      [
        {},
        { TKMPROM_MQTT_PROTOCOL_VERSION: '7' },
        'mqtt.protocolVersion (TKMPROM_MQTT_PROTOCOL_VERSION): must be 4 (MQTT 3.1.1) or 5 (MQTT 5), got "7"',
      ],
      [
        {},
        { TKMPROM_BROKER_TLS_REQUIRE_CLIENT_CERT: 'maybe' },
        'broker.tlsRequireClientCert (TKMPROM_BROKER_TLS_REQUIRE_CLIENT_CERT): expected true or false, got "maybe"',
      ],
    ];
    for (const [flags, env, line] of cases) {
      const e = errorOf(() => loadConfig({ flags, env }));
      assert.equal(e.message, `invalid configuration:\n  ${line}`);
    }
    assert.equal(loadConfig({ flags: { 'max-devices': '12' } }).limits.maxDevices, 12);
    assert.equal(loadConfig({ env: { TKMPROM_MQTT_PROTOCOL_VERSION: '5' } }).mqtt.protocolVersion, 5);
  });

  test('each error names the option as given: the flag, the variable, or the file key and line', () => {
    const file = tempFile('stats:\n  window: never\n');
    const fromFile = errorOf(() => loadConfig({ file }));
    assert.equal(
      fromFile.message,
      `invalid configuration:\n  stats.window (${file} line 2): expected a duration such as 5m (a number and ms, s, m, h or d), got "never"`,
    );
    const fromEnv = errorOf(() => loadConfig({ file, env: { TKMPROM_WINDOW: 'later' } }));
    assert.match(fromEnv.message, /stats\.window \(TKMPROM_WINDOW\): .* got "later"$/);
    const fromFlag = errorOf(() =>
      loadConfig({ file, env: { TKMPROM_WINDOW: 'later' }, flags: { window: 'soon' } }),
    );
    assert.match(fromFlag.message, /stats\.window \(--window\): .* got "soon"$/);
    const renamed = errorOf(() =>
      loadConfig({ flags: { 'embedded-broker': 'x' }, flagNames: { 'embedded-broker': '--broker-listen' } }),
    );
    assert.equal(
      renamed.message,
      'invalid configuration:\n  embeddedBroker (--broker-listen): expected HOST:PORT such as 127.0.0.1:1883, got "x"',
    );
  });

  test('after loading, settingName gives the name the user gave a setting', () => {
    const file = tempFile('listen: 127.0.0.1:1\nstats:\n  window: 1m\n');
    const c = loadConfig({
      file,
      env: { TKMPROM_MAX_DEVICES: '5' },
      flags: { 'embedded-broker': '127.0.0.1:2' },
      flagNames: { 'embedded-broker': '--broker-listen' },
    });
    assert.equal(settingName(c, 'listen'), `listen (${file} line 1)`);
    assert.equal(settingName(c, 'stats.window'), `stats.window (${file} line 3)`);
    assert.equal(settingName(c, 'limits.maxDevices'), 'TKMPROM_MAX_DEVICES');
    assert.equal(settingName(c, 'embeddedBroker'), '--broker-listen');
    assert.equal(settingName(c, 'state.dir'), '--state-dir', 'a default: the flag that would set it');
    assert.equal(settingName(c, 'stats.windowSlots'), 'stats.windowSlots', 'no flag: the key');
  });

  test('a misspelt key names the file, the key path and the closest key allowed there', () => {
    const cases: [string, string][] = [
      ['stats:\n  windw: 5m\n', 'stats.windw (FILE line 2): unknown setting; did you mean `window`?'],
      [
        'mqtt:\n  url: mqtt://x:1\n  pasword: x\n',
        'mqtt.pasword (FILE line 3): unknown setting; did you mean `password`?',
      ],
      ['window: 5m\n', 'window (FILE line 1): unknown setting; did you mean `stats.window`?'],
      [
        'streams:\n  rules:\n    - { pattern: "^X", stream: x }\n    - { simbol: X, stream: y }\n',
        'streams.rules.1.simbol (FILE line 4): unknown setting; did you mean `symbol`?',
      ],
      [
        'blah: 1\n',
        'blah (FILE line 1): unknown setting; the settings at the top level are mqtt, listen, source, embeddedBroker, broker, correlation, fleet, stats, limits, perDeviceMetrics, streams, http, api, state, log (examples/tkmprom.yaml lists every setting)',
      ],
    ];
    for (const [text, line] of cases) {
      const file = tempFile(text);
      const e = errorOf(() => loadConfig({ file }));
      assert.equal(e.code, 'TKM_CONFIG_INVALID');
      assert.equal(e.message.split('\n')[1], `  ${line.replace('FILE', file)}`, text);
    }
  });

  test('YAML syntax errors give the file, the line and the column', () => {
    const file = tempFile('listen: 127.0.0.1:1\nstats:\n\twindow: 5m\n');
    const e = errorOf(() => loadConfig({ file }));
    assert.equal(e.code, 'TKM_CONFIG_FILE_SYNTAX');
    assert.equal(
      e.message,
      `config file ${file}, line 3, column 1: not valid YAML: Tabs are not allowed as indentation; fix the file there`,
    );
    const dup = tempFile('stats:\n  window: 5m\n  window: 1m\n');
    assert.equal(
      errorOf(() => loadConfig({ file: dup })).message,
      `config file ${dup}, line 3, column 3: not valid YAML: Map keys must be unique; fix the file there`,
    );
    const missing = join(tmpdir(), 'tkmprom-no-such-dir', 'x.yaml');
    const m = errorOf(() => loadConfig({ file: missing }));
    assert.equal(m.code, 'TKM_CONFIG_FILE_UNREADABLE');
    assert.equal(
      m.message,
      `cannot read config file ${missing} (no such file); check the path given to --config or TKMPROM_CONFIG`,
    );
  });

  test('a secret is never echoed: a wrong value says how long it is', () => {
    const file = tempFile('mqtt:\n  password: 8675309\n');
    const e = errorOf(() => loadConfig({ file }));
    assert.equal(
      e.message,
      `invalid configuration:\n  mqtt.password (${file} line 2): expected a string, got a value of 7 characters`,
    );
    assert.ok(!e.message.includes('8675309'));
    const list = tempFile('mqtt:\n  password: [hunter2]\n');
    const l = errorOf(() => loadConfig({ file: list }));
    assert.ok(!l.message.includes('hunter2'), l.message);
    assert.match(l.message, /mqtt\.password .*: expected a string, got a value of 11 characters$/);
    const url = errorOf(() => loadConfig({ env: { TKMPROM_MQTT_URL: 'nope://tkm:hunter2@broker:1883' } }));
    assert.ok(!url.message.includes('hunter2'), url.message);
    assert.match(url.message, /got "nope:\/\/tkm:\*\*\*@broker:1883"$/);
    assert.ok(isSecretSetting('mqtt.password'));
    assert.ok(isSecretSetting('api.token'));
    assert.ok(isSecretSetting('x.clientSecret'));
    assert.ok(!isSecretSetting('api.tokenFile'), 'a file path is shown');
    assert.ok(!isSecretSetting('broker.passwordFile'));
  });

  test('closest: a slip of one or two letters, never another word', () => {
    assert.equal(closest('windw', ['window', 'windowSlots']), 'window');
    assert.equal(closest('WINDOW', ['window']), 'window');
    assert.equal(closest('tkn', ['token']), undefined, 'two edits in three letters is another word');
    assert.equal(closest('ab', ['cd', 'xy']), undefined);
    assert.equal(closest('listen', ['level', 'lateWindow']), undefined);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('a late window shorter than the timeout is refused', () => {
    const e = errorOf(() => loadConfig({ flags: { 'request-timeout': '10s', 'late-window': '5s' } }));
    assert.equal(
      e.message,
      'invalid configuration:\n  correlation.lateWindow (--late-window): expected a duration of at least the request timeout (10s), got "5s"',
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
    assert.match(
      e.message,
      /\n {2}streams\.rules\.0\.pattern \(\S+ line 3\): not a valid regular expression, got "\(\["$/,
    );
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
      /http\.headersTimeout \(--http-headers-timeout\): must be at most http\.requestTimeout \(30s\): the headers are part of the request/,
    );
    const r = errorOf(() => loadConfig({ env: { TKMPROM_HTTP_API_RATE_LIMIT: '-1' } }));
    assert.match(
      r.message,
      /http\.apiRateLimit \(TKMPROM_HTTP_API_RATE_LIMIT\): expected requests a second, 0 or more \(0: no limit\), got "-1"/,
    );
  });
});
