import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from './config/index.js';
import { Exporter } from './exporter.js';
import { ApiState, deviceDetail } from './http/index.js';
import { silentLogger } from './log.js';
import { heartbeatPayload } from './protocol/index.js';
import { histogramSeries, seriesValue } from '../test/helpers/series.js';

const A = 'AAAAAAAAAA01';
const B = 'AAAAAAAAAA02';

function setup(startMs: number, exactReplay = false) {
  let t = startMs;
  const config = loadConfig({ flags: { 'request-timeout': '10s' } });
  config.streams.rules = [{ symbol: 'AAPL', stream: 'polygon' }];
  const e = new Exporter({
    config,
    logger: silentLogger(),
    clock: () => t,
    processMetrics: false,
    exactReplay,
  });
  const send = (topic: string, p: string) => e.handle(topic, Buffer.from(p));
  return {
    e,
    heartbeat: (device: string) =>
      send(
        'DEVICESTATUS_RES',
        heartbeatPayload({
          deviceId: device,
          firmwareJson: '"2.1"',
          battery: 88,
          uptimeS: 600,
          charging: false,
        }),
      ),
    request: (device: string, symbol: string) =>
      send('STOCKPRICEUPDATE', JSON.stringify({ type: 'UPDATE', device, symbol })),
    reply: (device: string, symbol: string) => send(device, JSON.stringify({ type: 'UPDATE', symbol })),
    advance: (ms: number) => {
      t += ms;
      e.sweep();
    },
  };
}

/** Saves `from`'s state as the snapshot file would hold it and restores it into `to`. */
function roundTrip(from: Exporter, to: Exporter): void {
  for (const record of from.stateRecords()) to.restoreRecord(JSON.parse(JSON.stringify(record)));
  to.finishRestore();
}

describe('exporter state across a restart', () => {
  test('devices, windows and latest outcomes come back; counters start at zero; pending requests come back interrupted', () => {
    const a = setup(5_000);
    a.heartbeat(A);
    a.heartbeat(B);
    a.request(A, 'AAPL');
    a.advance(300);
    a.reply(A, 'AAPL');
    a.request(B, 'AAPL');
    a.advance(10_500); // B's request times out
    a.heartbeat(B);
    a.request(A, 'AAPL'); // pending at the snapshot
    a.advance(100);

    // The restarted process's own clock starts elsewhere: the state's times must still hold.
    const b = setup(1_000);
    roundTrip(a.e, b.e);
    b.e.start();

    const before = new ApiState(a.e.view).current();
    const after = new ApiState(b.e.view).current();
    assert.equal(after.stats.devices.tracked, 2);
    assert.equal(after.stats.devices.online, 2);
    assert.equal(after.stats.devices.online, before.stats.devices.online);

    // The window and the trend come back as saved; the pending request is decided (interrupted)
    // and interrupted requests stay out of the window's rates (docs/correlation.md).
    const saved = before.symbolDetail('AAPL')!;
    const restored = after.symbolDetail('AAPL')!;
    assert.deepEqual(restored.window, saved.window);
    assert.deepEqual(restored.trendDetail, saved.trendDetail);
    assert.deepEqual([saved.window.requests, saved.window.responses, saved.window.timeouts], [2, 1, 1]);
    assert.deepEqual(after.stream('polygon')!.window, before.stream('polygon')!.window);

    const detailA = deviceDetail(b.e.view, A)!;
    assert.equal(detailA.online, true);
    // Wall-clock fields differ only because this test's clocks are not the process's.
    const timeless = ({
      generatedAt,
      firstHeardAt,
      lastHeardAt,
      uptimeReportedAt,
      silentSeconds,
      recentRequests,
      pendingRequests,
      ...rest
    }: NonNullable<ReturnType<typeof deviceDetail>>) => rest;
    assert.deepEqual(timeless(detailA), timeless(deviceDetail(a.e.view, A)!));
    // The restore moved time on by the real time the round trip took: milliseconds.
    assert.ok(Math.abs(detailA.silentSeconds - deviceDetail(a.e.view, A)!.silentSeconds) < 0.5);
    assert.deepEqual(
      detailA.recentRequests.map((r) => r.outcome),
      ['response', 'interrupted'],
    );
    assert.equal(deviceDetail(b.e.view, B)!.recentRequests[0]!.outcome, 'timeout');

    // Counters are the new process's own: they start at zero, but for what the restore itself counted.
    const totals = after.symbolDetail('AAPL')!.totals;
    assert.deepEqual([totals.requests, totals.responses, totals.timeouts, totals.interrupted], [1, 0, 0, 1]);
    b.e.stop();
    a.e.stop();
  });

  test('the restored clock continues the saved one: a device goes offline when it would have without the restart', () => {
    const a = setup(50_000);
    a.heartbeat(A);
    const b = setup(7);
    roundTrip(a.e, b.e);
    b.e.start();
    const offlineAfter = b.e.view.offlineAfterMs(A);
    assert.equal(b.e.view.isOnline(A, b.e.view.now()), true);
    b.advance(offlineAfter + 1);
    assert.equal(b.e.view.isOnline(A, b.e.view.now()), false);
    b.e.stop();
    a.e.stop();
  });

  test('a record of an unknown section is refused, naming it', () => {
    const b = setup(0);
    assert.throws(() => b.e.restoreRecord(['gizmo', {}]), /unknown section "gizmo"/);
    b.e.stop();
  });

  test('with an exact replay, counters continue and open and timed-out requests wait for the replay', () => {
    const a = setup(5_000, true);
    a.heartbeat(A);
    a.heartbeat(B);
    a.request(A, 'AAPL');
    a.advance(300);
    a.reply(A, 'AAPL'); // a response before the snapshot
    a.request(B, 'MSFT');
    a.advance(10_500); // B's request times out; its late window is open
    a.request(A, 'AAPL'); // pending at the snapshot
    a.advance(2_000);
    a.e.handle('STOCKPRICEUPDATE', Buffer.from(JSON.stringify({ type: 'UPDATE', device: A })));
    // A symbol-less request, pending too
    a.advance(100);

    const b = setup(1_000, true);
    roundTrip(a.e, b.e);
    b.e.start();
    const totals = (e: Exporter, symbol: string) => {
      const c = (name: string) => seriesValue(e.registry, name, symbol);
      return [
        c('tickrmeter_stock_update_requests_total'),
        c('tickrmeter_stock_update_responses_total'),
        c('tickrmeter_stock_update_timeout_total'),
        c('tickrmeter_stock_update_late_responses_total'),
        c('tickrmeter_stock_update_interrupted_total') ?? 0,
        histogramSeries(e.registry, 'tickrmeter_stock_update_latency_seconds', symbol)?.count,
      ];
    };
    assert.deepEqual(totals(b.e, 'AAPL'), totals(a.e, 'AAPL'));
    assert.deepEqual(totals(b.e, 'AAPL'), [2, 1, 0, 0, 0, 1]);
    assert.deepEqual(totals(b.e, 'MSFT'), [1, 0, 1, 0, 0, 0]);
    assert.equal(b.e.view.quotePath().pendingRequests, 2);
    assert.equal(seriesValue(b.e.registry, 'tkmprom_messages_total', 'request'), 4);

    // The replay brings the replies: paired as the first process would have paired them.
    b.advance(400);
    b.reply(A, 'AAPL'); // pairs with the AAPL request, 2.5 s after it
    b.reply(B, 'MSFT'); // late, 13.3 s after its request
    assert.equal(seriesValue(b.e.registry, 'tickrmeter_stock_update_late_responses_total', 'MSFT'), 1);
    assert.equal(b.e.view.quotePath().pendingRequests, 1);
    // The symbol-less one times out at its own deadline, 10 s after it was asked, not at the
    // restore, charged to the symbol the device shows (none known: `unknown`).
    b.advance(9_000);
    assert.equal(seriesValue(b.e.registry, 'tickrmeter_stock_update_timeout_total', 'unknown') ?? 0, 0);
    b.advance(600);
    assert.equal(seriesValue(b.e.registry, 'tickrmeter_stock_update_timeout_total', 'unknown'), 1);
    assert.equal(seriesValue(b.e.registry, 'tickrmeter_stock_update_requests_total', 'unknown'), 1);
    assert.equal(b.e.view.quotePath().pendingRequests, 0);
    assert.deepEqual(totals(b.e, 'AAPL'), [2, 2, 0, 0, 0, 2]);
    b.e.stop();
    a.e.stop();
  });

  test("with an exact replay, the HTTP server's counters stay out of the snapshot: they restart with the process", () => {
    const a = setup(1_000, true);
    // The HTTP server registers its series in the exporter's registry once it starts.
    a.e.registry.counter('tkmprom_http_requests_refused_total', 'refused', ['reason']).labels('body').inc();
    a.heartbeat(A);
    const b = setup(1_000, true);
    roundTrip(a.e, b.e);
    assert.equal(b.e.registry.getFamily('tkmprom_http_requests_refused_total'), undefined);
    assert.equal(seriesValue(b.e.registry, 'tkmprom_messages_total', 'heartbeat'), 1);
  });

  test('without an exact replay the snapshot holds no counters', () => {
    const a = setup(0);
    a.request(A, 'AAPL');
    assert.deepEqual(
      [...a.e.stateRecords()].filter(([section]) => section === 'totals' || section === 'reboots'),
      [],
    );
    a.e.stop();
  });
});
