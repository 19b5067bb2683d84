import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { RunningExporter } from '../src/cli/run.js';
import { checkSchema } from './helpers/schema-check.js';
import type {
  DeviceDetailJson,
  DeviceListJson,
  StatsJson,
  StreamDetailJson,
  StreamListJson,
  SymbolDetailJson,
  SymbolListJson,
  TrendListJson,
} from '../src/http/schemas.js';
import { exporterFor, publish, publisher, sleep } from './helpers/exporter.js';
import { eventually, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { type Scrape, scrape } from './helpers/scrape.js';

const A = 'AAAAAAAAAA01';
const P = 'AAAAAAAAAA02';
const X = 'AAAAAAAAAA03';
const N = 'AAAAAAAAAA04';
const H = 'AAAAAAAAAA05';

const RULES = [
  { pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' },
  { symbol: 'AAPL', stream: 'polygon' },
  { symbol: 'MSFT', stream: 'polygon' },
];

interface Answer {
  path: string;
  status: number;
  contentType: string;
  body: unknown;
}

interface ErrorBody {
  error: string;
  message: string;
  parameter?: string;
}

interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    { get: { responses: Record<string, { content?: Record<string, { schema: unknown }> } | undefined> } }
  >;
  components: { schemas: Record<string, unknown> };
}

/** Every answer the tests get, so that the OpenAPI test can check each against the document. */
const answers: Answer[] = [];

async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers, redirect: 'manual' });
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const a = {
    path,
    status: res.status,
    contentType,
    body: contentType.includes('json') ? JSON.parse(text) : text,
  };
  answers.push(a);
  return a;
}

async function json<T>(base: string, path: string): Promise<T> {
  const a = await get(base, path);
  assert.equal(a.status, 200, `${path}: ${JSON.stringify(a.body)}`);
  assert.match(a.contentType, /^application\/json/);
  return a.body as T;
}

const scraped = (s: Scrape, name: string, labels: Record<string, string>) => s.get(name, labels) ?? 0;

describe('JSON API against a real Mosquitto', () => {
  let broker: Mosquitto;
  let running: RunningExporter;
  let pub: MqttClient;
  let base: string;
  let sent = 0;

  before(async () => {
    broker = await startMosquitto();
    running = await exporterFor(broker.url, { 'request-timeout': '1s' }, (c) => {
      c.streams.rules = RULES;
    });
    base = running.url;
    pub = await publisher(broker.url);
    const send = async (topic: string, payload: string | object) => {
      sent++;
      await publish(pub, topic, payload);
    };
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '45p',
      device: A,
      battery: '78',
      isCharging: '1',
      iv: 'elec+HB',
      flashID: 'C84017',
    });
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '1.81',
      device: P,
      battery: '5',
      isCharging: '0',
    });
    for (let i = 0; i < 10; i++) {
      await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: A, symbol: 'AAPL' });
      await send(A, { type: 'UPDATE', symbol: 'AAPL', interval: 120 });
    }
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P, symbol: 'MSFT' });
    await send(P, { type: 'STOCK_ERROR', symbol: 'MSFT', message: 'polygon: not found' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: X, symbol: 'BTC/USD' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: X, symbol: 'ETH/USD' });
    // Down: ten requests (the ranking's minimum) and not one answered.
    for (let i = 0; i < 10; i++)
      await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: X, symbol: 'SOL/USD' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P, symbol: 'TSLA' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: N });
    await send(N, { type: 'NO_CONFIG' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: H, symbol: 'XAU' });
    await send('HTTPSTREAMSTOCKS', {
      device: H,
      params: { getQuoteParams: { stream: 'commodities-api', symbol: 'XAU' } },
    });
    await send(H, { type: 'UPDATE', symbol: 'XAU' });
    await send(A, { type: 'UPDATE', symbol: 'GOOG' }); // unmatched
    await sleep(1300);
    await send(P, { type: 'UPDATE', symbol: 'TSLA' }); // late
    await eventually(() => running.exporter.messages === sent, 3000, 'every message to arrive');
    // Past the snapshot age, so the first answer is built from all of the above.
    await sleep(1100);
  });

  after(async () => {
    await pub.endAsync();
    await running.stop();
    await broker.stop();
  });

  test('symbol totals and window figures equal the scraped metrics', async () => {
    const list = await json<SymbolListJson>(base, '/api/v1/symbols?limit=10000&sort=name');
    const s = await scrape(base);
    const scrapedSymbols = [...s.series('tickrmeter_stock_update_requests_total').keys()]
      .map((k) => /symbol="([^"]*)"/.exec(k)![1]!)
      .sort();
    assert.deepEqual(
      list.symbols.map((x) => x.symbol),
      scrapedSymbols,
      'the same symbols as the metrics',
    );
    assert.equal(list.total, scrapedSymbols.length);
    for (const sym of list.symbols) {
      const l = { symbol: sym.symbol };
      const t = sym.totals;
      assert.equal(
        t.requests,
        scraped(s, 'tickrmeter_stock_update_requests_total', l),
        `${sym.symbol} requests`,
      );
      assert.equal(
        t.responses,
        scraped(s, 'tickrmeter_stock_update_responses_total', l),
        `${sym.symbol} responses`,
      );
      assert.equal(
        t.timeouts,
        scraped(s, 'tickrmeter_stock_update_timeout_total', l),
        `${sym.symbol} timeouts`,
      );
      assert.equal(
        t.late,
        scraped(s, 'tickrmeter_stock_update_late_responses_total', l),
        `${sym.symbol} late`,
      );
      assert.equal(t.interrupted, scraped(s, 'tickrmeter_stock_update_interrupted_total', l));
      for (const [type, n] of Object.entries(t.errorsByType)) {
        assert.equal(n, s.get('tickrmeter_stock_update_errors_total', { symbol: sym.symbol, type }));
      }
      assert.equal(t.errors, sumOf(s, 'tickrmeter_stock_update_errors_total', `symbol="${sym.symbol}"`));
      assert.equal(sym.window.responseRate, s.get('tickrmeter_symbol_response_rate', l) ?? null);
      assert.equal(
        sym.window.p95LatencySeconds,
        s.get('tickrmeter_stock_update_p95_latency_seconds', l) ?? null,
      );
      assert.equal(
        sym.window.p99LatencySeconds,
        s.get('tickrmeter_stock_update_p99_latency_seconds', l) ?? null,
      );
      assert.equal(
        sym.window.avgLatencySeconds,
        s.get('tickrmeter_stock_update_avg_latency_seconds', l) ?? null,
      );
      assert.equal(sym.health, s.get('tickrmeter_symbol_health_score', l) ?? null);
    }
    const by = Object.fromEntries(list.symbols.map((x) => [x.symbol, x]));
    assert.deepEqual(by.AAPL!.totals, {
      requests: 10,
      responses: 10,
      timeouts: 0,
      errors: 0,
      late: 0,
      interrupted: 0,
      nonQuote: 0,
      errorsByType: {},
    });
    assert.deepEqual([by.TSLA!.totals.timeouts, by.TSLA!.totals.late], [1, 1]);
    assert.deepEqual(by.MSFT!.totals.errorsByType, { STOCK_ERROR: 1 });
    assert.equal(by['BTC/USD']!.stream, 'coingecko');
    assert.equal(by['BTC/USD']!.health, 0);
    assert.equal(by['BTC/USD']!.down, false, 'one request: too few to tell');
    assert.deepEqual([by['SOL/USD']!.down, by['SOL/USD']!.health, by['SOL/USD']!.score], [true, 0, null]);
    assert.deepEqual(
      list.symbols.filter((x) => x.down).map((x) => x.symbol),
      ['SOL/USD'],
    );
    assert.equal(by.XAU!.stream, 'commodities-api');
    assert.equal(by.XAU!.streamObserved, true);
    assert.equal(by.unknown!.totals.nonQuote, 1);
  });

  test('stream totals equal the scraped stream metrics', async () => {
    const { streams } = await json<StreamListJson>(base, '/api/v1/streams');
    const s = await scrape(base);
    assert.deepEqual(
      streams.map((x) => x.stream),
      ['coingecko', 'commodities-api', 'polygon', 'unmapped'],
    );
    for (const st of streams) {
      const l = { stream: st.stream };
      assert.equal(
        st.totals.requests,
        scraped(s, 'tickrmeter_stream_requests_total', l),
        `${st.stream} requests`,
      );
      assert.equal(st.totals.responses, scraped(s, 'tickrmeter_stream_responses_total', l));
      assert.equal(st.totals.timeouts, scraped(s, 'tickrmeter_stream_timeout_total', l));
      assert.equal(st.totals.late, scraped(s, 'tickrmeter_stream_late_responses_total', l));
      assert.equal(st.totals.errors, sumOf(s, 'tickrmeter_stream_errors_total', `stream="${st.stream}"`));
      assert.equal(st.health, s.get('tickrmeter_stream_health_score', l) ?? null);
      assert.equal(st.window.p95LatencySeconds, s.get('tickrmeter_stream_p95_latency_seconds', l) ?? null);
      assert.equal(st.window.responseRate, s.get('tickrmeter_stream_response_rate', l) ?? null);
      assert.equal(st.history.p95LatencySeconds.length, 60);
      assert.equal(
        st.history.p95LatencySeconds.at(-1),
        st.window.p95LatencySeconds,
        'this minute is the window now',
      );
    }
    const cg = streams.find((x) => x.stream === 'coingecko')!;
    assert.deepEqual(
      [cg.totals.requests, cg.totals.timeouts, cg.health, cg.symbols, cg.down],
      [12, 12, 0, 3, true],
    );
    assert.deepEqual(
      streams.filter((x) => x.down).map((x) => x.stream),
      ['coingecko'],
    );

    const detail = await json<StreamDetailJson>(base, '/api/v1/streams/coingecko');
    assert.deepEqual(detail.symbolNames, ['BTC/USD', 'ETH/USD', 'SOL/USD']);
    assert.deepEqual(
      { ...detail, generatedAt: '', symbolNames: [] },
      { ...cg, generatedAt: '', symbolNames: [] },
    );
    assert.equal(
      (await json<StreamDetailJson>(base, '/api/v1/streams/commodities-api')).stream,
      'commodities-api',
    );
  });

  test('stats equal the scraped fleet, message and quote path metrics', async () => {
    const st = await json<StatsJson>(base, '/api/v1/stats');
    const s = await scrape(base);
    assert.equal(st.messages.total, sent);
    for (const [kind, n] of Object.entries(st.messages.byKind)) {
      assert.equal(n, s.get('tkmprom_messages_total', { kind }), kind);
    }
    assert.equal(st.devices.online, s.sum('tickrmeter_devices_online'));
    assert.equal(st.devices.offline, s.get('tickrmeter_devices_offline'));
    assert.equal(st.devices.tracked, 5);
    for (const v of st.devices.byVersion) {
      assert.equal(
        v.online,
        s.get('tickrmeter_devices_online', {
          firmware_version: v.firmware,
          iv: v.innerVersion,
          flash_id: v.flashId,
        }),
      );
    }
    assert.deepEqual(st.devices.byFirmware, [
      // X is heard only in requests: no device yet (docs/fleet.md).
      { firmware: 'unknown', online: 2 },
      { firmware: '1.81', online: 1 },
      { firmware: '45p', online: 1 },
    ]);
    for (const state of ['charging', 'not_charging', 'unknown'] as const) {
      assert.equal(
        st.devices.charging[state],
        s.get('tickrmeter_devices_by_charging_state', { charging_state: state }),
      );
    }
    for (const [level, n] of Object.entries(st.devices.battery)) {
      assert.equal(n, s.get('tickrmeter_devices_by_battery_level', { level }), level);
    }
    const q = st.quotes.totals;
    assert.equal(q.requests, s.sum('tickrmeter_stock_update_requests_total'));
    assert.equal(q.responses, s.sum('tickrmeter_stock_update_responses_total'));
    assert.equal(q.timeouts, s.sum('tickrmeter_stock_update_timeout_total'));
    assert.equal(q.errors, s.sum('tickrmeter_stock_update_errors_total'));
    assert.equal(q.late, s.sum('tickrmeter_stock_update_late_responses_total'));
    assert.equal(q.interrupted, s.sum('tickrmeter_stock_update_interrupted_total'));
    assert.equal(q.unmatched, s.sum('tickrmeter_stock_update_unmatched_responses_total'));
    assert.equal(q.nonQuote, s.sum('tickrmeter_stock_update_non_quote_responses_total'));
    assert.deepEqual(q, {
      requests: 26,
      responses: 11,
      timeouts: 13,
      errors: 1,
      late: 1,
      interrupted: 0,
      nonQuote: 1,
      unmatched: 1,
    });
    assert.equal(st.health, s.get('tickrmeter_quote_path_health_score'));
    assert.equal(st.quotes.pending, s.get('tkmprom_pending_requests'));
    assert.equal(st.quotes.symbols, s.get('tkmprom_tracked_symbols'));
    assert.equal(st.quotes.streams, s.get('tkmprom_tracked_streams'));
    // The worst symbols: the down one first, then the ranking of the metric (at least 10 window
    // requests and an answered quote): only AAPL qualifies there.
    assert.deepEqual(
      st.worstSymbols.map((w) => [w.rank, w.symbol, w.down]),
      [
        [1, 'SOL/USD', true],
        [2, 'AAPL', false],
      ],
    );
    assert.deepEqual(
      st.worstSymbols.filter((w) => !w.down).map((w) => [w.rank - 1, w.symbol, w.score]),
      [...s.series('tickrmeter_slowest_symbols_ranking')].map(([k, v]) => [
        Number(/rank="(\d+)"/.exec(k)![1]),
        /symbol="([^"]*)"/.exec(k)![1],
        v,
      ]),
    );
    assert.equal(st.settings.requestTimeoutSeconds, 1);
  });

  test('symbols by name, URL-encoded or not; sorting and filters', async () => {
    const enc = await json<SymbolDetailJson>(base, '/api/v1/symbols/BTC%2FUSD');
    assert.equal(enc.symbol, 'BTC/USD');
    assert.deepEqual(enc.totals.timeouts, 1);
    const raw = await json<SymbolDetailJson>(base, '/api/v1/symbols/BTC/USD');
    assert.deepEqual(raw, enc);
    const list = await json<SymbolListJson>(base, '/api/v1/symbols?stream=coingecko');
    const { generatedAt: _g, trendDetail: _t, ...plain } = enc;
    assert.deepEqual(
      list.symbols.find((x) => x.symbol === 'BTC/USD'),
      plain,
    );

    const byScore = await json<SymbolListJson>(base, '/api/v1/symbols?sort=score&limit=7');
    assert.equal(byScore.sort, 'score');
    const order = byScore.symbols.map((x) => x.symbol);
    assert.equal(order[0], 'SOL/USD', 'down first');
    assert.deepEqual(order.slice(1, 3).sort(), ['AAPL', 'XAU'], 'the two answered symbols have a score');
    assert.deepEqual(
      order.slice(3),
      ['BTC/USD', 'ETH/USD', 'MSFT', 'TSLA'],
      'no answered quote, no score: after the scored ones, two window requests before one, then by name',
    );
    assert.deepEqual(
      byScore.symbols.map((x) => [x.score === null, x.down]),
      [
        [true, true],
        [false, false],
        [false, false],
        [true, false],
        [true, false],
        [true, false],
        [true, false],
      ],
    );
    const byDefault = await json<SymbolListJson>(base, '/api/v1/symbols?limit=7');
    assert.deepEqual(byDefault.symbols, byScore.symbols, 'score is the default');
    const byRequests = await json<SymbolListJson>(base, '/api/v1/symbols?sort=requests&limit=1');
    assert.deepEqual(
      byRequests.symbols.map((x) => x.symbol),
      ['AAPL'],
    );
    assert.ok(byRequests.total > 1);
    const busy = await json<SymbolListJson>(base, '/api/v1/symbols?minRequests=10');
    assert.deepEqual(
      busy.symbols.map((x) => x.symbol),
      ['SOL/USD', 'AAPL'],
    );
    const none = await json<SymbolListJson>(base, '/api/v1/symbols?stream=nosuchstream');
    assert.deepEqual([none.total, none.symbols.length], [0, 0]);
  });

  test('devices: list, filters and one device with its latest requests', async () => {
    const list = await json<DeviceListJson>(base, '/api/v1/devices');
    assert.equal(list.total, 5);
    assert.equal(list.devices[0]!.device, P, 'most recently heard first: the late reply');
    assert.deepEqual(
      (await json<DeviceListJson>(base, '/api/v1/devices?status=online&limit=2')).devices.map((d) => d.device)
        .length,
      2,
    );
    assert.equal((await json<DeviceListJson>(base, '/api/v1/devices?status=offline')).total, 0);

    const a = await json<DeviceDetailJson>(base, `/api/v1/devices/${A}`);
    assert.equal(a.firmware, '45p');
    assert.equal(a.innerVersion, 'elec+HB');
    assert.equal(a.charging, 'charging');
    assert.equal(a.battery, 78);
    assert.equal(a.online, true);
    assert.equal(a.updateIntervalSeconds, 120);
    assert.equal(a.recentRequests.length, 10);
    assert.ok(
      a.recentRequests.every(
        (r) => r.symbol === 'AAPL' && r.outcome === 'response' && r.latencySeconds! >= 0,
      ),
    );

    const p = await json<DeviceDetailJson>(base, `/api/v1/devices/${P.toLowerCase()}`);
    assert.equal(p.device, P);
    assert.deepEqual(
      p.recentRequests.map((r) => [r.symbol, r.outcome, r.replyType]),
      [
        ['MSFT', 'error', 'STOCK_ERROR'],
        ['TSLA', 'timeout', ''],
        ['TSLA', 'late', 'UPDATE'],
      ],
    );
  });

  test('trends: nothing stable, worst first', async () => {
    const t = await json<TrendListJson>(base, '/api/v1/trends');
    assert.ok(t.entries.length > 0);
    assert.ok(t.entries.every((e) => e.trend !== 'stable'));
    const symbols = await json<SymbolListJson>(base, '/api/v1/symbols?limit=10000');
    // Left out: keys with no quote outcome (a non-quote answer says nothing of the quote service).
    const active = symbols.symbols.filter(
      (x) => x.trend !== 'stable' && x.window.responses + x.window.errors + x.window.timeouts > 0,
    );
    assert.deepEqual(
      t.entries
        .filter((e) => e.kind === 'symbol')
        .map((e) => e.name)
        .sort(),
      active.map((x) => x.symbol).sort(),
    );
    const onlyStreams = await json<TrendListJson>(base, '/api/v1/trends?kind=stream&limit=1');
    assert.equal(onlyStreams.entries.length, 1);
    assert.equal(onlyStreams.entries[0]!.kind, 'stream');
  });

  test('unknown names answer 404, bad values 400 naming the parameter', async () => {
    const notFound = [
      '/api/v1/symbols/NOPE',
      '/api/v1/streams/nope',
      '/api/v1/devices/ABCDEF123456',
      '/api/v1/devices/not-a-device',
      '/api/v1/nothing',
      '/api/v1/stats/extra',
      '/api/v1/trends/AAPL',
      '/api/v2/stats',
      '/api',
    ];
    for (const path of notFound) {
      const a = await get(base, path);
      assert.equal(a.status, 404, path);
      assert.match(a.contentType, /^application\/json/);
      assert.equal((a.body as ErrorBody).error, 'not found', path);
      assert.equal(typeof (a.body as ErrorBody).message, 'string');
    }
    const bad: [string, string][] = [
      ['/api/v1/symbols?sort=latency', 'sort'],
      ['/api/v1/symbols?limit=0', 'limit'],
      ['/api/v1/symbols?limit=ten', 'limit'],
      ['/api/v1/symbols?minRequests=-1', 'minRequests'],
      ['/api/v1/symbols?limt=5', 'limt'],
      ['/api/v1/devices?status=gone', 'status'],
      ['/api/v1/devices?limit=1&limit=2', 'limit'],
      ['/api/v1/trends?trend=stable', 'trend'],
      ['/api/v1/stats?verbose=1', 'verbose'],
      ['/api/v1/symbols/AAPL?x=1', 'x'],
      ['/api/v1/symbols/%E0%A4%A', 'symbols'],
    ];
    for (const [path, parameter] of bad) {
      const a = await get(base, path);
      assert.equal(a.status, 400, path);
      const body = a.body as ErrorBody;
      assert.equal(body.error, 'bad request');
      assert.equal(body.parameter, parameter, path);
      assert.ok(body.message.includes(parameter), body.message);
    }
  });

  test('the status page is served without a token configured', async () => {
    const a = await get(base, '/');
    assert.equal(a.status, 200);
    assert.match(a.contentType, /^text\/html/);
    assert.match(a.body as string, /<title>TickrMeter fleet/);
    const head = await fetch(`${base}/api/v1/stats`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  test('the OpenAPI document describes every answer the tests got', async () => {
    const doc = await json<OpenApiDoc>(base, '/api/openapi.json');
    const root = doc as unknown as Record<string, unknown>;
    assert.equal(doc.openapi, '3.1.0');
    await get(base, '/metrics');
    await get(base, '/healthz');
    await get(base, '/readyz');
    const templates = Object.keys(doc.paths).map((p) => ({
      path: p,
      re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '.+')}$`),
    }));
    const used = new Set<string>();
    for (const a of answers) {
      const pathname = new URL(a.path, 'http://x').pathname;
      const t = templates.find((x) => x.re.test(pathname));
      if (t === undefined) {
        assert.equal(a.status, 404, `${a.path} is not in the document, so it must be a 404`);
        assert.deepEqual(
          checkSchema(a.body, { $ref: '#/components/schemas/Error' }, { root, closedObjects: true }),
          [],
        );
        continue;
      }
      used.add(t.path);
      const response = doc.paths[t.path]!.get.responses[String(a.status)];
      assert.ok(response, `${a.path}: status ${a.status} is documented for ${t.path}`);
      if (response.content === undefined) {
        assert.equal(a.body, '', `${a.path}: no body documented`);
        continue;
      }
      const [type, media] = Object.entries(response.content)[0]!;
      assert.ok(a.contentType.startsWith(type), `${a.path}: ${a.contentType} is ${type}`);
      if (type === 'application/json') {
        const problems = checkSchema(a.body, media.schema, { root, closedObjects: true });
        assert.deepEqual(problems, [], `${a.path} (${a.status})`);
      }
    }
    assert.deepEqual(
      Object.keys(doc.paths).filter((p) => !used.has(p)),
      [],
      'every documented path was exercised',
    );
  });
});

describe('API token', () => {
  let broker: Mosquitto;
  let running: RunningExporter;
  let base: string;
  const TOKEN = 'tkm-test-token-1234';

  before(async () => {
    broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-api-'));
    const file = join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    running = await exporterFor(broker.url, { 'api-token-file': file });
    base = running.url;
  });

  after(async () => {
    await running.stop();
    await broker.stop();
  });

  test('the API needs the bearer token; metrics, health, readiness and the document stay open', async () => {
    const none = await get(base, '/api/v1/stats');
    assert.equal(none.status, 401);
    assert.equal((none.body as ErrorBody).error, 'unauthorized');
    const res = await fetch(`${base}/api/v1/symbols/AAPL`);
    assert.equal(res.status, 401, 'before any 404: names are not probed without the token');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="tkmprom"');
    assert.equal((await get(base, '/api/v1/stats', { authorization: 'Bearer wrong' })).status, 401);
    const ok = await get(base, '/api/v1/stats', { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    for (const path of ['/metrics', '/healthz', '/readyz', '/api/openapi.json']) {
      assert.equal((await fetch(`${base}${path}`)).status, 200, path);
    }
  });

  test('the page asks for the token, takes it once and sets an HttpOnly cookie', async () => {
    const ask = await get(base, '/');
    assert.equal(ask.status, 401);
    assert.match(ask.body as string, /<input type="password" name="token"/);
    const wrong = await get(base, '/?token=nope');
    assert.equal(wrong.status, 401);
    assert.match(wrong.body as string, /not it/);

    const res = await fetch(`${base}/?token=${encodeURIComponent(TOKEN)}`, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), './');
    const cookie = res.headers.get('set-cookie')!;
    assert.match(cookie, /^tkmprom_session=[^;]+; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    assert.ok(!cookie.includes(TOKEN));
    const pair = cookie.split(';')[0]!;

    const page = await fetch(`${base}/`, { headers: { cookie: pair } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const api = await fetch(`${base}/api/v1/stats`, { headers: { cookie: pair } });
    assert.equal(api.status, 200, 'the page reads the API with its cookie');
    assert.equal((await fetch(`${base}/`, { headers: { cookie: 'tkmprom_session=forged' } })).status, 401);
  });
});

describe('API token file', () => {
  test('an empty token file is refused at start', async () => {
    const broker = await startMosquitto();
    try {
      const file = join(mkdtempSync(join(tmpdir(), 'tkmprom-api-')), 'token');
      writeFileSync(file, '\n');
      await assert.rejects(exporterFor(broker.url, { 'api-token-file': file }), /token file is empty/);
    } finally {
      await broker.stop();
    }
  });
});

function sumOf(s: Scrape, name: string, labelText: string): number {
  let n = 0;
  for (const [k, v] of s.series(name)) if (k.includes(labelText)) n += v;
  return n;
}
