// Render timings for the exposition; run with `node --import tsx src/export/render.bench.ts`.
import { performance } from 'node:perf_hooks';
import type { ExpositionFormat } from './negotiate.js';
import { Registry } from './registry.js';
import { ExpositionBuffer } from './sink.js';

const WARMUP = 3;
const RUNS = 11;

/** Counters and gauges shaped like the exporter's per-device families, `n` series in all. */
function scalarRegistry(n: number): Registry {
  const reg = new Registry();
  const messages = reg.counter('tkmprom_device_messages_total', 'Messages per device and kind.', [
    'device',
    'kind',
  ]);
  const errors = reg.counter('tkmprom_device_errors_total', 'Errors per device and reason.', [
    'device',
    'reason',
  ]);
  const lastSeen = reg.gauge('tkmprom_device_last_seen_timestamp_seconds', 'Last message time.', ['device']);
  const rssi = reg.gauge('tkmprom_device_rssi_dbm', 'Wi-Fi signal strength.', ['device', 'ssid']);
  const latency = reg.gauge('tkmprom_device_latency_seconds', 'Last reply latency.', ['device']);
  const perFamily = Math.ceil(n / 5);
  for (let i = 0; i < perFamily; i++) {
    const device = `tkm-${String(i).padStart(6, '0')}`;
    messages.labels(device, i % 2 === 0 ? 'quote' : 'status').inc(i * 7);
    errors.labels(device, 'timeout').inc(i % 13);
    lastSeen.labels(device).set(1732490000 + i / 1000);
    rssi.labels(device, 'office-2.4G').set(-40 - (i % 50));
    latency.labels(device).set(0.0123 + i / 1e6);
  }
  return reg;
}

/** Histograms with 11 bounds: 13 sample lines per series, `lines` lines in all. */
function histogramRegistry(lines: number): Registry {
  const reg = new Registry();
  const h = reg.histogram(
    'tkmprom_reply_latency_seconds',
    'Request to reply latency.',
    ['device'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  const series = Math.ceil(lines / 13);
  for (let i = 0; i < series; i++) {
    const s = h.labels(`tkm-${String(i).padStart(6, '0')}`);
    for (let k = 0; k < 20; k++) s.observe(((i + k) % 100) / 37);
  }
  return reg;
}

/** Renders into one buffer reused between runs, as `/metrics` does. */
function time(reg: Registry, format: ExpositionFormat): { ms: number; bytes: number } {
  const out = new ExpositionBuffer();
  let bytes = 0;
  for (let i = 0; i < WARMUP; i++) {
    out.reset();
    reg.renderTo(format, out);
  }
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    out.reset();
    const t0 = performance.now();
    reg.renderTo(format, out);
    samples.push(performance.now() - t0);
    bytes = out.bytes().length;
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(RUNS / 2)]!, bytes };
}

function report(label: string, reg: Registry): void {
  const text = time(reg, 'text');
  const om = time(reg, 'openmetrics');
  console.log(
    `${label.padEnd(28)} text ${text.ms.toFixed(1).padStart(6)} ms (${(text.bytes / 1e6).toFixed(1)} MB)` +
      `   openmetrics ${om.ms.toFixed(1).padStart(6)} ms (${(om.bytes / 1e6).toFixed(1)} MB)`,
  );
}

console.log(`median of ${RUNS} renders into a reused buffer after ${WARMUP} warm-up renders`);
for (const n of [10_000, 60_000, 100_000]) report(`${n} counter/gauge series`, scalarRegistry(n));
for (const n of [10_000, 60_000, 100_000]) report(`${n} histogram lines`, histogramRegistry(n));

const reg = scalarRegistry(1);
const handle = reg.getFamily('tkmprom_device_messages_total') as ReturnType<Registry['counter']>;
const c = handle.labels('tkm-000000', 'quote');
const incs = 10_000_000;
const t0 = performance.now();
for (let i = 0; i < incs; i++) c.inc();
const ns = ((performance.now() - t0) * 1e6) / incs;
console.log(`Counter.inc() on a held handle: ${ns.toFixed(1)} ns`);

const lookups = 1_000_000;
const t1 = performance.now();
for (let i = 0; i < lookups; i++) handle.labels('tkm-000000', 'quote').inc();
const lookupNs = ((performance.now() - t1) * 1e6) / lookups;
console.log(`labels(device, kind).inc() on an existing series: ${lookupNs.toFixed(0)} ns`);
