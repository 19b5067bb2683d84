import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from '../export/index.js';
import { silentLogger } from '../log.js';
import type {
  DeviceStatus,
  DeviceView,
  FleetFigures,
  OutcomeRecord,
  QuotePathView,
  QuoteSettings,
  RankedSymbol,
  ReadModel,
  StreamView,
  SymbolView,
  Trend,
  TrendFigures,
  WindowFigures,
} from '../view/index.js';
import { apiRoutes, type HttpServer, startHttpServer } from './index.js';

// The API served from a read model of a few literals: src/http needs nothing of the exporter.

const NOW = 600_000;
const WALL_AT_NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const A = 'AAAAAAAAAA01';
const B = 'AAAAAAAAAA02';

function win(
  requests: number,
  responses: number,
  errors: number,
  timeouts: number,
  p95: number,
): WindowFigures {
  return {
    requests,
    responses,
    errors,
    timeouts,
    late: 0,
    responseRate: responses / requests,
    avgLatencySeconds: 0.2,
    p95LatencySeconds: p95,
    p99LatencySeconds: Number.NaN,
  };
}

const TREND: TrendFigures = {
  trend: 'degrading',
  recentSamples: 11,
  baselineSamples: 40,
  recentMean: 0.4,
  baselineMean: 0.1,
  ratio: 4,
  t: 5.5,
  recentRequests: 12,
  baselineRequests: 40,
  recentFailureRate: 1 / 12,
  baselineFailureRate: 0,
  z: Number.NaN,
};

function key(
  name: string,
  window: WindowFigures,
  totals: { requests: number; responses: number; timeouts: number; errors: Record<string, number> },
  score: number,
  health: number,
  trend: Trend,
) {
  return {
    name,
    window,
    totals: {
      ...totals,
      late: 0,
      interrupted: 0,
      nonQuote: 0,
      errorsByType: () => Object.entries(totals.errors),
    },
    score,
    health,
    down: false,
    trend,
    trendDetail: () => TREND,
  };
}

const AAPL: SymbolView = {
  ...key(
    'AAPL',
    win(12, 11, 1, 0, 0.5),
    { requests: 12, responses: 11, timeouts: 0, errors: { STOCK_ERROR: 1 } },
    0.9,
    80,
    'degrading',
  ),
  stream: 'polygon',
  streamObserved: false,
};
const MSFT: SymbolView = {
  ...key(
    'MSFT',
    win(8, 7, 0, 1, 0.25),
    { requests: 8, responses: 7, timeouts: 1, errors: {} },
    1.5,
    40,
    'stable',
  ),
  stream: 'polygon',
  streamObserved: true,
};
const POLYGON: StreamView = key(
  'polygon',
  win(20, 18, 1, 1, 0.5),
  { requests: 20, responses: 18, timeouts: 1, errors: { STOCK_ERROR: 1 } },
  1,
  50,
  'degrading',
);

function device(id: string, lastHeard: number): DeviceView {
  return {
    id,
    firstHeard: 100_000,
    lastHeard,
    messages: 9,
    firmware: '45p',
    innerVersion: 'elec+HB',
    flashId: 'C84017',
    battery: 78,
    charging: 0,
    vin: 2750,
    uptime: 3600,
    uptimeAt: lastHeard,
    wifiLost: 2,
    flashCheck: Number.NaN,
    updateIntervalMs: 0,
    reboots: 1,
    lastBootAt: Number.NaN,
    bootPending: false,
  };
}
const DEVICES = [device(A, 590_000), device(B, 440_000)];
const BANDS = [
  '0-9',
  '10-19',
  '20-29',
  '30-39',
  '40-49',
  '50-59',
  '60-69',
  '70-79',
  '80-89',
  '90-100',
  'unknown',
];

class FakeReadModel implements ReadModel {
  refreshes = 0;
  now = () => NOW;
  wallTime = (ms: number) => WALL_AT_NOW - NOW + ms;
  messagesSeen = () => 42;
  messagesByKind = () => ({ request: 20, reply: 18, heartbeat: 3, invalid: 1 });
  refresh(now: number): void {
    assert.equal(now, NOW);
    this.refreshes++;
  }
  settings = (): QuoteSettings => ({
    requestTimeoutMs: 10_000,
    windowMs: 300_000,
    objectiveResponseRate: 0.99,
    objectiveP95Seconds: 2,
    rankingSize: 10,
    rankingMinRequests: 10,
  });
  quotePath = (): QuotePathView => ({
    window: POLYGON.window,
    health: 50,
    pendingRequests: 2,
    unmatchedReplies: 3,
  });
  symbols = () => [AAPL, MSFT];
  symbolCount = () => 2;
  symbol = (name: string) => [AAPL, MSFT].find((s) => s.name === name);
  streams = () => [POLYGON];
  streamCount = () => 1;
  worstSymbols = (): RankedSymbol[] => [
    { rank: 1, symbol: MSFT },
    { rank: 2, symbol: AAPL },
  ];
  fleet = (): FleetFigures => ({
    tracked: 2,
    online: 1,
    offline: 1,
    versions: [{ firmware: '45p', innerVersion: 'elec+HB', flashId: 'C84017', online: 1 }],
    charging: { charging: 0, not_charging: 1, unknown: 0 },
    battery: BANDS.map((band) => ({ band, online: band === '70-79' ? 1 : 0 })),
  });
  recentlyOffline = () => [{ device: B, at: 500_000, lastHeard: 440_000, firmware: '45p' }];
  devices = (_now: number, status?: DeviceStatus) =>
    DEVICES.filter((d) => status === undefined || (d.id === A ? 'online' : 'offline') === status);
  device = (id: string) => DEVICES.find((d) => d.id === id);
  isOnline = (id: string) => id === A;
  offlineAfterMs = () => 60_000;
  shownSymbol = (id: string) => (id === A ? 'AAPL' : undefined);
  pendingRequests = (id: string) => (id === A ? 2 : 0);
  recentOutcomes = (id: string): OutcomeRecord[] =>
    id === A
      ? [
          {
            requestedAt: 589_000,
            symbol: 'AAPL',
            outcome: 'response',
            latencySeconds: 0.25,
            replyType: 'UPDATE',
          },
        ]
      : [];
}

const at = (ms: number) => new Date(WALL_AT_NOW - NOW + ms).toISOString();
const GENERATED = '2026-05-01T12:00:00.000Z';
const lastHour = (last: number) => [...new Array(59).fill(null), last];

const WINDOW_POLYGON = {
  seconds: 300,
  requests: 20,
  responses: 18,
  errors: 1,
  timeouts: 1,
  late: 0,
  responseRate: 0.9,
  avgLatencySeconds: 0.2,
  p95LatencySeconds: 0.5,
  p99LatencySeconds: null,
};
const AAPL_JSON = {
  symbol: 'AAPL',
  stream: 'polygon',
  streamObserved: false,
  totals: {
    requests: 12,
    responses: 11,
    timeouts: 0,
    errors: 1,
    late: 0,
    interrupted: 0,
    nonQuote: 0,
    errorsByType: { STOCK_ERROR: 1 },
  },
  window: { ...WINDOW_POLYGON, requests: 12, responses: 11, timeouts: 0, responseRate: 11 / 12 },
  score: 0.9,
  health: 80,
  down: false,
  trend: 'degrading',
};
const MSFT_JSON = {
  symbol: 'MSFT',
  stream: 'polygon',
  streamObserved: true,
  totals: {
    requests: 8,
    responses: 7,
    timeouts: 1,
    errors: 0,
    late: 0,
    interrupted: 0,
    nonQuote: 0,
    errorsByType: {},
  },
  window: {
    ...WINDOW_POLYGON,
    requests: 8,
    responses: 7,
    errors: 0,
    timeouts: 1,
    responseRate: 7 / 8,
    p95LatencySeconds: 0.25,
  },
  score: 1.5,
  health: 40,
  down: false,
  trend: 'stable',
};
const TREND_JSON = {
  recentSamples: 11,
  baselineSamples: 40,
  recentMeanLatencySeconds: 0.4,
  baselineMeanLatencySeconds: 0.1,
  latencyRatio: 4,
  t: 5.5,
  recentRequests: 12,
  baselineRequests: 40,
  recentFailureRate: 1 / 12,
  baselineFailureRate: 0,
  z: null,
};
const SUMMARY_A = {
  device: A,
  online: true,
  firstHeardAt: at(100_000),
  lastHeardAt: at(590_000),
  silentSeconds: 10,
  offlineAfterSeconds: 60,
  firmware: '45p',
  innerVersion: 'elec+HB',
  flashId: 'C84017',
  battery: 78,
  charging: 'not_charging',
  shownSymbol: 'AAPL',
};

describe('the API served from a read model of literals', () => {
  const view = new FakeReadModel();
  let http: HttpServer;
  before(async () => {
    http = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      optionName: '--listen',
      registry: new Registry(),
      ready: () => true,
      logger: silentLogger(),
      routes: apiRoutes(view, {}),
    });
  });
  after(() => http.close());

  const get = async (path: string) => {
    const res = await fetch(`${http.url}${path}`);
    assert.equal(res.status, 200, path);
    return res.json();
  };

  test('stats', async () => {
    assert.deepEqual(await get('/api/v1/stats'), {
      generatedAt: GENERATED,
      startedAt: GENERATED,
      health: 50,
      messages: { total: 42, perSecond: null, byKind: { request: 20, reply: 18, heartbeat: 3, invalid: 1 } },
      devices: {
        tracked: 2,
        online: 1,
        offline: 1,
        byFirmware: [{ firmware: '45p', online: 1 }],
        byVersion: [{ firmware: '45p', innerVersion: 'elec+HB', flashId: 'C84017', online: 1 }],
        charging: { charging: 0, not_charging: 1, unknown: 0 },
        battery: Object.fromEntries(BANDS.map((b) => [b, b === '70-79' ? 1 : 0])),
        recentlyOffline: [
          { device: B, at: at(500_000), lastHeardAt: at(440_000), firmware: '45p', online: false },
        ],
      },
      quotes: {
        totals: {
          requests: 20,
          responses: 18,
          timeouts: 1,
          errors: 1,
          late: 0,
          interrupted: 0,
          nonQuote: 0,
          unmatched: 3,
        },
        window: WINDOW_POLYGON,
        history: {
          intervalSeconds: 60,
          start: '2026-05-01T11:01:00.000Z',
          p95LatencySeconds: lastHour(0.5),
          responseRate: lastHour(0.9),
        },
        pending: 2,
        symbols: 2,
        streams: 1,
      },
      worstSymbols: [
        { rank: 1, ...MSFT_JSON },
        { rank: 2, ...AAPL_JSON },
      ],
      settings: {
        requestTimeoutSeconds: 10,
        windowSeconds: 300,
        objectiveResponseRate: 0.99,
        objectiveP95LatencySeconds: 2,
        rankingSize: 10,
        rankingMinRequests: 10,
      },
    });
  });

  test('streams and one stream', async () => {
    const polygon = {
      stream: 'polygon',
      symbols: 2,
      totals: { ...AAPL_JSON.totals, requests: 20, responses: 18, timeouts: 1 },
      window: WINDOW_POLYGON,
      score: 1,
      health: 50,
      down: false,
      trend: 'degrading',
      history: {
        intervalSeconds: 60,
        start: '2026-05-01T11:01:00.000Z',
        p95LatencySeconds: lastHour(0.5),
        responseRate: lastHour(0.9),
      },
    };
    assert.deepEqual(await get('/api/v1/streams'), { generatedAt: GENERATED, streams: [polygon] });
    assert.deepEqual(await get('/api/v1/streams/polygon'), {
      generatedAt: GENERATED,
      ...polygon,
      symbolNames: ['AAPL', 'MSFT'],
    });
  });

  test('symbols, one symbol, trends', async () => {
    assert.deepEqual(await get('/api/v1/symbols'), {
      generatedAt: GENERATED,
      sort: 'score',
      total: 2,
      symbols: [MSFT_JSON, AAPL_JSON],
    });
    assert.deepEqual(await get('/api/v1/symbols?sort=requests&minRequests=10'), {
      generatedAt: GENERATED,
      sort: 'requests',
      total: 1,
      symbols: [AAPL_JSON],
    });
    assert.deepEqual(await get('/api/v1/symbols/AAPL'), {
      generatedAt: GENERATED,
      ...AAPL_JSON,
      trendDetail: TREND_JSON,
    });
    assert.deepEqual(await get('/api/v1/trends'), {
      generatedAt: GENERATED,
      total: 2,
      entries: [
        {
          kind: 'stream',
          name: 'polygon',
          stream: null,
          trend: 'degrading',
          score: 1,
          health: 50,
          down: false,
          detail: TREND_JSON,
        },
        {
          kind: 'symbol',
          name: 'AAPL',
          stream: 'polygon',
          trend: 'degrading',
          score: 0.9,
          health: 80,
          down: false,
          detail: TREND_JSON,
        },
      ],
    });
  });

  test('devices and one device', async () => {
    const list = (await get('/api/v1/devices')) as { devices: { device: string }[] };
    assert.deepEqual(
      list.devices.map((d) => d.device),
      [A, B],
    );
    assert.deepEqual(await get('/api/v1/devices?status=online'), {
      generatedAt: GENERATED,
      status: 'online',
      total: 1,
      devices: [SUMMARY_A],
    });
    assert.deepEqual(await get(`/api/v1/devices/${A.toLowerCase()}`), {
      generatedAt: GENERATED,
      ...SUMMARY_A,
      messages: 9,
      vin: 2750,
      uptimeSeconds: 3600,
      uptimeReportedAt: at(590_000),
      wifiConnectionsLost: 2,
      flashCheck: null,
      updateIntervalSeconds: null,
      reboots: 1,
      lastBootAt: null,
      bootPending: false,
      pendingRequests: 2,
      recentRequests: [
        {
          requestedAt: at(589_000),
          symbol: 'AAPL',
          outcome: 'response',
          latencySeconds: 0.25,
          replyType: 'UPDATE',
        },
      ],
    });
    const res = await fetch(`${http.url}/api/v1/devices/AAAAAAAAAA03`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  test('the status page', async () => {
    const res = await fetch(`${http.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    await res.body?.cancel();
  });

  test('one snapshot, one refresh of the read model, for every call of this second', () => {
    assert.equal(view.refreshes, 1);
  });
});
