import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/index.js';
import { Exporter, STATE_VERSION, stateFingerprint } from '../../src/exporter.js';
import { silentLogger } from '../../src/log.js';
import { heartbeatPayload } from '../../src/protocol/index.js';
import { StateKeeper } from '../../src/state/index.js';
import type { Ctx } from '../lib/context.js';

export interface SnapshotFigures {
  devices: number;
  symbols: number;
  /** Wall time of one snapshot, from the first record drawn to the directory's fsync. */
  ms: number;
  bytes: number;
  /** The longest the event loop waited while the snapshot was written: how long ingest paused. */
  longestPauseMs: number;
}

export interface InprocResult {
  /** Requests from ids never heard before, past `limits.maxDevices`, handled per second on one core. */
  newIdsPerSecond: number;
  newIds: number;
  /** The same requests from 8,000 known devices: the reference measured in the same run. */
  knownIdsPerSecond: number;
  snapshots: SnapshotFigures[];
}

const id = (prefix: string, i: number) => `${prefix}${i.toString(16).toUpperCase().padStart(11, '0')}`;
const request = (device: string, symbol: string) =>
  Buffer.from(`{"type":"UPDATE","device":"${device}","symbol":"${symbol}"}`);

function settings(maxDevices: number): Config {
  return loadConfig({
    flags: { 'request-timeout': '2s', 'max-devices': String(maxDevices), 'max-symbols': '20000' },
  });
}

function exporter(maxDevices: number): Exporter {
  return new Exporter({ config: settings(maxDevices), logger: silentLogger(), processMetrics: false });
}

/** Messages per second through `handle`, for ready-made payloads. */
function rate(e: Exporter, topic: string, payloads: Buffer[]): number {
  const t0 = performance.now();
  for (let i = 0; i < payloads.length; i++) e.handle(topic, payloads[i]!);
  return payloads.length / ((performance.now() - t0) / 1000);
}

/**
 * The exporter in this process, without a broker: what one core does with a flood of requests from
 * made-up device ids (each one's first message), beside requests from known devices; and the time,
 * size and ingest pause of a state snapshot at today's fleet and at 100,000 devices.
 */
export async function inproc(ctx: Ctx): Promise<InprocResult> {
  const newIds = ctx.quick ? 300_000 : 1_000_000;
  const symbols = Array.from({ length: 1000 }, (_, i) => `S${i}`);

  const flood = exporter(200_000);
  const floodPayloads = Array.from({ length: newIds }, (_, i) => request(id('F', i), symbols[i % 1000]!));
  // Warm up on other ids, so the figure is the steady state and not the first compilation.
  rate(
    flood,
    'STOCKPRICEUPDATE',
    Array.from({ length: 50_000 }, (_, i) => request(id('E', i), 'AAPL')),
  );
  const newIdsPerSecond = rate(flood, 'STOCKPRICEUPDATE', floodPayloads);
  flood.stop();

  const known = exporter(200_000);
  const devices = Array.from({ length: 8000 }, (_, i) => id('K', i));
  for (const d of devices) {
    known.handle(
      'DEVICESTATUS_RES',
      Buffer.from(
        heartbeatPayload({ deviceId: d, firmwareJson: '"2.3"', battery: 80, uptimeS: 10, charging: false }),
      ),
    );
  }
  const knownPayloads = Array.from({ length: newIds }, (_, i) =>
    request(devices[i % 8000]!, symbols[i % 1000]!),
  );
  rate(known, 'STOCKPRICEUPDATE', knownPayloads.slice(0, 50_000));
  const knownIdsPerSecond = rate(known, 'STOCKPRICEUPDATE', knownPayloads);
  known.stop();

  const snapshots: SnapshotFigures[] = [];
  for (const n of ctx.quick ? [8000] : [8000, 100_000]) snapshots.push(await snapshot(n, 20_000));
  return { newIdsPerSecond, newIds, knownIdsPerSecond, snapshots };
}

async function snapshot(devices: number, symbolCount: number): Promise<SnapshotFigures> {
  const e = exporter(devices * 2);
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-bench-state-'));
  try {
    for (let i = 0; i < devices; i++) {
      const d = id('D', i);
      e.handle(
        'DEVICESTATUS_RES',
        Buffer.from(
          heartbeatPayload({ deviceId: d, firmwareJson: '"2.3"', battery: 80, uptimeS: 10, charging: false }),
        ),
      );
      // Every symbol answered at least once, every device with a latest outcome and a shown symbol.
      for (let k = 0; k < 2; k++) {
        const symbol = `S${(i * 2 + k) % symbolCount}`;
        e.handle('STOCKPRICEUPDATE', request(d, symbol));
        e.handle(d, Buffer.from(`{"type":"UPDATE","symbol":"${symbol}"}`));
      }
    }
    e.sweep();
    const keeper = new StateKeeper({
      dir,
      version: STATE_VERSION,
      fingerprint: stateFingerprint(settings(devices * 2)),
      records: () => e.stateRecords(),
      intervalMs: 0,
      logger: silentLogger(),
    });
    let longestPauseMs = 0;
    let last = performance.now();
    let done = false;
    const tick = () => {
      const now = performance.now();
      longestPauseMs = Math.max(longestPauseMs, now - last);
      last = now;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const t0 = performance.now();
    await keeper.snapshot();
    const ms = performance.now() - t0;
    done = true;
    return { devices, symbols: symbolCount, ms, bytes: keeper.figures.lastBytes, longestPauseMs };
  } finally {
    e.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
