import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildFleet, loadProfile } from './profile.js';
import { replayTraffic, type TrafficMessage } from './replay.js';
import { mulberry32 } from './rng.js';
import { DEMO_SCENARIO, type Fault } from './scenario.js';
import { type Outcome, type Truth, TruthLedger, classifyReply } from './truth.js';
import { runVirtual, type VirtualRunOptions } from './virtual.js';

const profile = loadProfile();
const DEVICE_TOPIC = /^[0-9A-F]{12}$/;

/** Faults of every kind, with latencies right at the timeout and the end of the late window. */
const HARSH: Fault[] = [
  { symbol: 'TSLA', latencyMs: 9500 },
  { symbol: 'BTC', latencyMs: 10_000 },
  { symbol: 'AAPL', latencyMs: 19_800 },
  { stream: 'fxon', latencyMs: 20_300, fromMs: 20_000 },
  { stream: 'coingecko', drop: 0.5 },
  { stream: 'tradingview', late: 0.3 },
  { stream: 'polygon', error: 'STOCK_ERROR', rate: 0.2 },
  { stream: 'finage', error: 'INVALID_FORMAT', rate: 0.2 },
  { symbol: '_page', error: 'PAGE_ERROR', rate: 0.3 },
  { outage: true, fromMs: 40_000, untilMs: 47_000 },
];

function sum(truth: Truth): Outcome {
  const total: Outcome = { requests: 0, responses: 0, timeouts: 0, errors: 0, late: 0 };
  for (const o of Object.values(truth.symbols)) {
    total.requests += o.requests;
    total.responses += o.responses;
    total.timeouts += o.timeouts;
    total.errors += o.errors;
    total.late += o.late;
  }
  return total;
}

/** Delays every message by up to `maxMs`, keeping their order, as a broker and a network would. */
function jitter(traffic: TrafficMessage[], maxMs: number, seed: number): TrafficMessage[] {
  const rnd = mulberry32(seed);
  let last = Number.NEGATIVE_INFINITY;
  return traffic.map((m) => {
    const t = Math.max(last, m.t + rnd() * maxMs);
    last = t;
    return { ...m, t };
  });
}

function parse(m: TrafficMessage): Record<string, unknown> {
  return JSON.parse(m.payload as string) as Record<string, unknown>;
}

function deviceOf(m: TrafficMessage): string | undefined {
  if (DEVICE_TOPIC.test(m.topic)) return m.topic;
  const slash = m.topic.indexOf('/');
  if (slash >= 0) return m.topic.slice(slash + 1);
  return parse(m).device as string | undefined;
}

test('a seed reproduces the traffic and the truth', () => {
  const opts: VirtualRunOptions = {
    devices: 150,
    speed: 30,
    durationMs: 30_000,
    seed: 5,
    scenario: DEMO_SCENARIO,
  };
  const a = runVirtual(opts);
  const b = runVirtual(opts);
  assert.deepEqual(a.traffic, b.traffic);
  assert.deepEqual(a.truth, b.truth);
  const c = runVirtual({ ...opts, seed: 6 });
  assert.notDeepEqual(a.truth, c.truth);
});

const CONFIGS: Array<{ name: string; opts: VirtualRunOptions }> = [
  { name: 'speed 30', opts: { devices: 300, speed: 30, durationMs: 70_000, seed: 1 } },
  { name: 'speed 1', opts: { devices: 1200, speed: 1, durationMs: 150_000, seed: 2 } },
  {
    name: 'speed 100, short late window',
    opts: { devices: 250, speed: 100, durationMs: 60_000, seed: 3, lateWindowMs: 5000 },
  },
  {
    name: 'long late window',
    opts: { devices: 250, speed: 10, durationMs: 90_000, seed: 4, lateWindowMs: 30_000 },
  },
  {
    name: 'short timeout, margin 500 ms',
    opts: { devices: 250, speed: 30, durationMs: 60_000, seed: 5, requestTimeoutMs: 5000, marginMs: 500 },
  },
];

for (const { name, opts } of CONFIGS) {
  test(`the truth is what the rules count from the traffic, whatever the transit delays (${name})`, () => {
    const margin = opts.marginMs ?? 1000;
    const run = runVirtual({ ...opts, scenario: { faults: HARSH } });
    const rules = {
      timeoutMs: opts.requestTimeoutMs ?? 10_000,
      lateWindowMs: opts.lateWindowMs ?? opts.requestTimeoutMs ?? 10_000,
    };
    assert.equal(run.truth.messages, run.traffic.length);
    assert.deepEqual(replayTraffic(run.traffic, rules), run.truth);
    // Delays below the margin, different for every message, change nothing.
    for (const seed of [1, 2, 3]) {
      assert.deepEqual(replayTraffic(jitter(run.traffic, margin * 0.95, seed), rules), run.truth);
    }
    const total = sum(run.truth);
    assert.equal(total.requests, total.responses + total.errors + total.timeouts + run.truth.nonQuote);
    assert.ok(total.late <= total.timeouts, 'total.late <= total.timeouts');
    assert.ok(
      total.late > 0 && total.errors > 0 && total.timeouts > 0 && total.responses > 0,
      'total.late > 0 && total.errors > 0 && total.timeouts > 0 && total.responses > 0',
    );
    assert.ok(
      run.truth.unmatched > 0 && run.truth.nonQuote > 0 && run.truth.reboots > 0,
      'run.truth.unmatched > 0 && run.truth.nonQuote > 0 && run.truth.reboots > 0',
    );
    assert.ok(
      run.engine.ledger.maxPending <= 11 && run.engine.ledger.maxTimedOut <= 11,
      'run.engine.ledger.maxPending <= 11 && run.engine.ledger.maxTimedOut <= 11',
    );
  });
}

test('no reply lands within the margin of a timeout or of the end of a late window of an open request', () => {
  const T = 10_000;
  const L = 10_000;
  const m = 1000;
  const run = runVirtual({
    devices: 400,
    speed: 30,
    durationMs: 80_000,
    seed: 9,
    scenario: { faults: HARSH },
  });
  const ledger = new TruthLedger(T, L);
  let checked = 0;
  for (const msg of run.traffic) {
    if (msg.topic === 'STOCKPRICEUPDATE') {
      const o = parse(msg);
      ledger.request(msg.t, o.device as string, (o.symbol as string | undefined) ?? null);
    } else if (DEVICE_TOPIC.test(msg.topic)) {
      // Every request still open (pending, or timed out and inside its late window, a moment
      // before the reply) could be the one the reply pairs with.
      for (const t of ledger.openRequestTimes(msg.topic, msg.t - m)) {
        const age = msg.t - t;
        assert.ok(Math.abs(age - T) >= m - 1e-6, `reply ${age} ms after an open request`);
        assert.ok(Math.abs(age - T - L) >= m - 1e-6, `reply ${age} ms after an open request`);
        checked++;
      }
      ledger.reply(msg.t, msg.topic, classifyReply(parse(msg)));
    }
  }
  assert.equal(checked, 8298);
  assert.equal(run.engine.nudged, 656);
});

test('a device starts a cycle only with nothing pending or remembered, and boots only when idle', () => {
  const T = 10_000;
  const m = 1000;
  const run = runVirtual({
    devices: 400,
    speed: 30,
    durationMs: 80_000,
    seed: 10,
    scenario: { faults: HARSH },
  });
  const ledger = new TruthLedger(T, T);
  const lastStart = new Map<string, number>();
  let starts = 0;
  for (const msg of run.traffic) {
    if (msg.topic === 'STOCKPRICEUPDATE') {
      const o = parse(msg);
      const d = o.device as string;
      if (o.symbol === undefined) {
        starts++;
        assert.equal(ledger.pendingCount(d, msg.t), 0);
        assert.equal(ledger.rememberedCount(d, msg.t), 0);
        const prev = lastStart.get(d);
        if (prev !== undefined)
          assert.ok(msg.t - prev >= T + m - 1e-6, 'cycles start timeout + margin apart');
        lastStart.set(d, msg.t);
      }
      ledger.request(msg.t, d, (o.symbol as string | undefined) ?? null);
    } else if (msg.topic === 'TICKRMETERBOOT') {
      const d = parse(msg).device as string;
      assert.equal(ledger.pendingCount(d, msg.t), 0);
      assert.equal(ledger.rememberedCount(d, msg.t), 0);
      ledger.boot(msg.t, d);
    } else if (DEVICE_TOPIC.test(msg.topic)) {
      ledger.reply(msg.t, msg.topic, classifyReply(parse(msg)));
    }
  }
  assert.ok(starts > 1000, 'starts > 1000');
});

test('messages follow the protocol', () => {
  const run = runVirtual({
    devices: 600,
    speed: 30,
    durationMs: 90_000,
    seed: 11,
    scenario: { faults: HARSH },
  });
  const fleet = new Map(buildFleet(profile, 600, 11).map((d) => [d.id, d]));
  const topics: Record<string, number> = {};
  const lastRequest = new Map<string, number>();
  const httpSeen = new Set<string>();
  for (const msg of run.traffic) {
    const payload = msg.payload as string;
    assert.ok(Buffer.byteLength(payload) < 1024, `${msg.topic} payload under 1 KiB`);
    const kind = DEVICE_TOPIC.test(msg.topic) ? '<id>' : msg.topic.replace(/\/[0-9A-F]{12}$/, '/<id>');
    topics[kind] = (topics[kind] ?? 0) + 1;
    if (kind === 'LOG/<id>') continue;
    const o = parse(msg);
    const device = deviceOf(msg);
    assert.ok(device !== undefined && fleet.has(device), `${msg.topic} names a fleet device`);
    const spec = fleet.get(device)!;
    switch (kind) {
      case 'STOCKPRICEUPDATE': {
        assert.equal(o.type, 'UPDATE');
        if (spec.kind !== 'playlist') assert.equal(o.symbol, undefined, 'only playlists name symbols');
        if (o.symbol !== undefined) {
          assert.ok(spec.symbols.includes(o.symbol as string), 'spec.symbols.includes(o.symbol as string)');
          const gap = msg.t - lastRequest.get(device)!;
          assert.ok(gap >= 270 && gap <= 330, `playlist requests about 300 ms apart, got ${gap}`);
        }
        lastRequest.set(device, msg.t);
        break;
      }
      case 'DEVICESTATUS_RES': {
        for (const [k, v] of Object.entries(o)) assert.equal(typeof v, 'string', `heartbeat field ${k}`);
        assert.equal(o.firmware_version, spec.firmware);
        assert.equal('vin' in o, spec.fields.vin);
        assert.equal('iv' in o, spec.fields.iv);
        assert.equal('xmc' in o, spec.fields.xmc);
        assert.equal('flashID' in o, spec.fields.flashID);
        assert.equal('wflct' in o, spec.fields.wflct);
        assert.ok(
          o.isCharging === '0' || o.isCharging === '1',
          "o.isCharging === '0' || o.isCharging === '1'",
        );
        const battery = Number(o.battery);
        assert.ok(
          Number.isInteger(battery) && battery >= 0 && battery <= 100,
          'Number.isInteger(battery) && battery >= 0 && battery <= 100',
        );
        if (o.isCharging === '1') assert.ok(Number(o.vin ?? 3000) > 2500, 'Number(o.vin ?? 3000) > 2500');
        break;
      }
      case '<id>': {
        if (o.type === 'UPDATE' || o.type === 'NEW') {
          if (spec.kind === 'playlist') {
            assert.equal(o.isPlaylist, true);
            assert.equal(o.symbols, spec.symbols.join(','));
            assert.equal(o.symbol, spec.symbols[o.symbolIndex as number]);
            assert.equal(o.cycleInterval, spec.cycleIntervalS);
            assert.equal(o.updateInterval, spec.updateIntervalS);
          } else if (spec.kind === 'single') {
            assert.equal(o.symbol, spec.symbols[0]);
            assert.equal(o.interval, spec.updateIntervalS);
            assert.equal(o.isPlaylist, undefined);
          } else {
            assert.equal(o.mode, 'page');
          }
          if (o.mode !== 'page') {
            assert.equal(typeof o.p, 'number');
            assert.match(o.date as string, /^\d\d:\d\d[AP]M \d{1,2} [A-Z][a-z]{2} \d{4}$/);
          }
        } else if (o.type === 'STOCK_ERROR') {
          assert.ok(
            typeof o.message === 'string' && typeof o.symbol === 'string',
            "typeof o.message === 'string' && typeof o.symbol === 'string'",
          );
        } else if (o.mode === 'page') {
          assert.equal(spec.kind, 'page');
        } else {
          assert.ok(['INVALID_FORMAT', 'NO_CONFIG', 'DEVICE_REG'].includes(o.type as string), String(o.type));
        }
        break;
      }
      case 'HTTPSTREAMSTOCKS': {
        const params = o.params as { getQuoteParams: { stream: string; symbol: string } };
        assert.ok(
          ['commodities-api', 'electricity', 'custom-api'].includes(params.getQuoteParams.stream),
          "['commodities-api', 'electricity', 'custom-api'].includes(params.getQuoteParams.stream)",
        );
        assert.ok(
          spec.symbols.includes(params.getQuoteParams.symbol),
          'spec.symbols.includes(params.getQuoteParams.symbol)',
        );
        httpSeen.add(device);
        break;
      }
      case 'TICKRMETERBOOT':
      case 'DEVICE_BOOTED':
        assert.deepEqual(o, { type: 'BOOT', device });
        break;
      case 'ALERT/<id>':
        assert.ok(o.type === 'ENABLE' || o.type === 'DISABLE', "o.type === 'ENABLE' || o.type === 'DISABLE'");
        break;
      case 'FIRMWAREUPDATE/<id>':
        assert.equal(typeof o.version, 'string');
        break;
      default:
        assert.fail(`unexpected topic ${msg.topic}`);
    }
  }
  for (const t of [
    'STOCKPRICEUPDATE',
    'DEVICESTATUS_RES',
    '<id>',
    'TICKRMETERBOOT',
    'DEVICE_BOOTED',
    'LOG/<id>',
  ]) {
    assert.ok((topics[t] ?? 0) > 0, `${t} sent`);
  }
  assert.ok(httpSeen.size > 0, 'httpSeen.size > 0');
});

test('boots: re-sent every 10 s until answered, one log line, reboots as the exporter counts them', () => {
  const run = runVirtual({
    devices: 400,
    speed: 30,
    durationMs: 150_000,
    seed: 12,
    scenario: { faults: [{ outage: true, fromMs: 2000, untilMs: 25_000 }] },
  });
  const lastBoot = new Map<string, number>();
  const answered = new Set<string>();
  const bootSince = new Set<string>();
  const lastUptime = new Map<string, [number, number]>();
  let logs = 0;
  let resends = 0;
  let silent = 0;
  for (const msg of run.traffic) {
    const device = deviceOf(msg)!;
    if (msg.topic === 'TICKRMETERBOOT') {
      const prev = lastBoot.get(device);
      if (prev !== undefined && !answered.has(device)) {
        assert.equal(Math.round(msg.t - prev), 10_000, 're-sent 10 s after the previous one');
        resends++;
      }
      lastBoot.set(device, msg.t);
      answered.delete(device);
      bootSince.add(device);
    } else if (msg.topic.startsWith('LOG/')) {
      logs++;
      assert.equal(lastBoot.get(device), msg.t, 'the log line comes with the first boot message');
    } else if (DEVICE_TOPIC.test(msg.topic)) {
      answered.add(device);
    } else if (msg.topic === 'STOCKPRICEUPDATE') {
      if (lastBoot.has(device)) assert.ok(answered.has(device), 'no request before the boot reply');
    } else if (msg.topic === 'DEVICESTATUS_RES') {
      const uptime = Number(parse(msg).uptime);
      const prev = lastUptime.get(device);
      if (prev !== undefined) {
        if (uptime < prev[1]) {
          if (!bootSince.has(device) && prev[1] < 4_294_000) silent++;
        } else {
          // Real seconds: the uptime grows with the clock, whatever the speed.
          assert.ok(Math.abs(uptime - prev[1] - (msg.t - prev[0]) / 1000) <= 1.001, 'uptime is real time');
        }
      }
      lastUptime.set(device, [msg.t, uptime]);
      bootSince.delete(device);
    }
  }
  assert.ok(resends > 0, 'the outage makes devices re-send');
  assert.ok(silent > 0, 'some reboots show only as an uptime drop');
  assert.equal(run.truth.reboots, logs + silent);
});

test('devices stop asking at the duration and the run ends once every outcome is known', () => {
  const durationMs = 40_000;
  const run = runVirtual({ devices: 300, speed: 30, durationMs, seed: 13, scenario: { faults: HARSH } });
  const end = run.engine.scheduler.now;
  const ledger = new TruthLedger();
  for (const msg of run.traffic) {
    if (msg.topic === 'STOCKPRICEUPDATE') {
      const o = parse(msg);
      if (o.symbol === undefined) assert.ok(msg.t < durationMs, 'no cycle starts after the duration');
      ledger.request(msg.t, o.device as string, (o.symbol as string | undefined) ?? null);
    } else if (msg.topic.startsWith('LOG/')) {
      assert.ok(msg.t < durationMs, 'no boot after the duration');
    } else if (DEVICE_TOPIC.test(msg.topic)) {
      ledger.reply(msg.t, msg.topic, classifyReply(parse(msg)));
    }
  }
  assert.ok(
    end > durationMs && end <= durationMs + 10_000 + 10_000 + 1000 + 3500 + 20_300 + 1000,
    'end > durationMs && end <= durationMs + 10_000 + 10_000 + 1000 + 3500 + 20_300 + 1000',
  );
  for (const d of buildFleet(profile, 300, 13)) {
    assert.equal(ledger.pendingCount(d.id, end), 0);
    assert.equal(ledger.rememberedCount(d.id, end), 0);
  }
});

test('a stop drains, an immediate stop counts what is pending as timeouts', () => {
  for (const immediate of [false, true]) {
    const run = runVirtual({
      devices: 300,
      speed: 30,
      durationMs: 120_000,
      seed: 14,
      scenario: DEMO_SCENARIO,
      stopAt: { ms: 25_000, immediate },
    });
    const requests = run.traffic.filter((m) => m.topic === 'STOCKPRICEUPDATE');
    assert.ok(
      requests.every((m) => m.t <= 25_000 + 3500),
      'requests.every((m) => m.t <= 25_000 + 3500)',
    );
    assert.deepEqual(replayTraffic(run.traffic), run.truth);
    const total = sum(run.truth);
    assert.equal(total.requests, requests.length);
    assert.equal(total.requests, total.responses + total.errors + total.timeouts + run.truth.nonQuote);
    const end = run.engine.scheduler.now;
    if (immediate) assert.equal(end, 25_000);
    else
      assert.ok(
        end > 25_000 + 10_000 && end < 25_000 + 30_000,
        'end > 25_000 + 10_000 && end < 25_000 + 30_000',
      );
  }
});

test('after max messages no cycle starts', () => {
  const run = runVirtual({ devices: 300, speed: 30, durationMs: 600_000, maxMessages: 2000, seed: 15 });
  // The cycles under way when the bound was reached still finish.
  assert.equal(run.truth.messages, 2706);
  const reached = run.traffic[1999]!.t;
  const late = run.traffic.filter(
    (m) => m.topic === 'STOCKPRICEUPDATE' && m.t > reached && parse(m).symbol === undefined,
  );
  assert.deepEqual(late, []);
  assert.deepEqual(replayTraffic(run.traffic), run.truth);
});

test('the demo scenario: TSLA answers in about 4 s, coingecko never', () => {
  const run = runVirtual({ devices: 400, speed: 30, durationMs: 60_000, seed: 16, scenario: DEMO_SCENARIO });
  const single = new Set(
    buildFleet(profile, 400, 16)
      .filter((d) => d.kind === 'single' && d.symbols[0] === 'TSLA')
      .map((d) => d.id),
  );
  assert.ok(single.size > 0, 'single.size > 0');
  const asked = new Map<string, number>();
  const latencies: number[] = [];
  for (const msg of run.traffic) {
    if (msg.topic === 'STOCKPRICEUPDATE') {
      const d = parse(msg).device as string;
      if (single.has(d)) asked.set(d, msg.t);
    } else if (single.has(msg.topic) && asked.has(msg.topic)) {
      latencies.push(msg.t - asked.get(msg.topic)!);
      asked.delete(msg.topic);
    }
  }
  assert.ok(latencies.length > 10, 'latencies.length > 10');
  for (const l of latencies) assert.ok(l > 3000 && l < 5500, `TSLA latency ${l}`);
  const tsla = run.truth.symbols.TSLA!;
  assert.ok(tsla.responses > 0, 'TSLA answered');
  const cg = run.truth.streams.coingecko!;
  assert.equal(cg.responses, 0);
  assert.equal(cg.timeouts, cg.requests);
  assert.ok(cg.requests > 0, 'cg.requests > 0');
});

test('a healthy backend answers every request in time; a short timeout only cuts the latency tail', () => {
  const healthy = runVirtual({ devices: 500, speed: 30, durationMs: 60_000, seed: 17 });
  const total = sum(healthy.truth);
  assert.equal(total.requests, 7801);
  assert.equal(total.timeouts, 0);
  assert.equal(total.late, 0);
  assert.equal(total.errors, 0);
  assert.equal(total.requests, total.responses + healthy.truth.nonQuote);
  assert.equal(healthy.engine.nudged, 0);
  // Only the backend's rare duplicate replies find nothing to answer.
  assert.equal(healthy.truth.unmatched, 4);

  // With a 3 s timeout, playlists of ten symbols still get their later replies in time; only
  // replies slower than the timeout less the margin time out.
  const short = runVirtual({ devices: 500, speed: 30, durationMs: 60_000, seed: 17, requestTimeoutMs: 3000 });
  const t = sum(short.truth);
  assert.equal(t.requests, 17_390);
  assert.equal(t.timeouts, 24);
  assert.equal(t.requests, t.responses + t.timeouts + short.truth.nonQuote);
});
