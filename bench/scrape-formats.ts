/**
 * The scrape's cost in each exposition format, in this process, for the exporter's own state:
 *
 *   node --expose-gc --max-semi-space-size=64 --import tsx bench/scrape-formats.ts [--json]
 *
 * (or `npm run bench -- --only formats`, which runs it so and adds its figures to the summary).
 * Feeds an `Exporter` (no broker) 8,000 devices asking for 3,400 symbols, then one asking for
 * every symbol up to the cap (`limits.maxSymbols`, 5,000), each symbol answering with latencies
 * spread over 0.05 to 8 s, and renders `/metrics` into a reused buffer as text 0.0.4,
 * OpenMetrics and protobuf (native histograms, the default, and `stats.histograms: both`).
 * Prints per format: the series Prometheus stores from it (sample lines; in protobuf a native
 * histogram is one series), bytes, the median and fastest render time of 11 after 3 warm-up renders (the
 * collectors' refresh of windows and scores included, as at a scrape), and what one render
 * allocates (heap growth over a render, read with a 64 MB young generation so no scavenge hides it).
 */
import { performance } from 'node:perf_hooks';
import protobuf from 'protobufjs';
import { loadConfig } from '../src/config/index.js';
import { Exporter } from '../src/exporter.js';
import { ExpositionBuffer, type ExpositionFormat } from '../src/export/index.js';
import { silentLogger } from '../src/log.js';
import { heartbeatPayload } from '../src/protocol/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc --max-semi-space-size=64 --import tsx bench/scrape-formats.ts');
  process.exit(1);
}

const WARMUP = 3;
const RUNS = 11;
const DEVICES = 8000;

const root = protobuf.loadSync('test/fixtures/metrics.proto');
const MetricFamily = root.lookupType('io.prometheus.client.MetricFamily');

const id = (i: number) => `B${i.toString(16).toUpperCase().padStart(11, '0')}`;

/** An exporter holding `devices` devices, each asking for symbols out of `symbols`, all answered. */
function fleet(symbols: number, histograms: 'native' | 'both'): Exporter {
  let now = 1_000_000;
  const config = loadConfig({
    flags: { histograms, 'max-devices': '200000', 'max-symbols': '5000', 'log-level': 'silent' },
  });
  const e = new Exporter({ config, logger: silentLogger(), processMetrics: false, clock: () => now });
  const names = Array.from({ length: symbols }, (_, i) => `S${i}`);
  for (let d = 0; d < DEVICES; d++) {
    e.handle(
      'DEVICESTATUS_RES',
      Buffer.from(
        heartbeatPayload({
          deviceId: id(d),
          firmwareJson: '"2.3"',
          battery: 80,
          uptimeS: 10,
          charging: false,
        }),
      ),
    );
  }
  // Every symbol asked for and answered a few times per device round, by devices in turn: each
  // round asks for every symbol at once, then the replies come in order of their latency, 0.05 to
  // 8 s by symbol and round.
  const rounds = Math.max(3, Math.ceil((DEVICES * 3) / symbols));
  for (let r = 0; r < rounds; r++) {
    const start = now;
    const order: { s: number; device: string; at: number }[] = [];
    for (let s = 0; s < symbols; s++) {
      const device = id((r * symbols + s) % DEVICES);
      e.handle(
        'STOCKPRICEUPDATE',
        Buffer.from(`{"type":"UPDATE","device":"${device}","symbol":"${names[s]}"}`),
      );
      order.push({ s, device, at: start + 50 + ((s * 37 + r * 101) % 7950) });
    }
    order.sort((a, b) => a.at - b.at);
    for (const o of order) {
      now = o.at;
      e.handle(o.device, Buffer.from(`{"type":"UPDATE","symbol":"${names[o.s]}","price":"1.0"}`));
    }
    now += 1000;
  }
  return e;
}

/** Series Prometheus stores from one exposition. */
function seriesOf(format: ExpositionFormat, bytes: Buffer): number {
  if (format !== 'protobuf') {
    let n = 0;
    for (const line of bytes.toString('utf8').split('\n')) if (line !== '' && line[0] !== '#') n++;
    return n;
  }
  const reader = protobuf.Reader.create(bytes);
  let n = 0;
  while (reader.pos < reader.len) {
    const f = MetricFamily.toObject(MetricFamily.decodeDelimited(reader), {
      enums: String,
      longs: Number,
    }) as {
      type: string;
      metric: { histogram?: { bucket?: unknown[]; schema?: number; zeroThreshold?: number } }[];
    };
    for (const m of f.metric) {
      const h = m.histogram;
      if (h === undefined) n++;
      // Prometheus 2.42 with native histograms on stores a native histogram as one series.
      else if (h.zeroThreshold !== undefined) n++;
      else n += (h.bucket?.length ?? 0) + 3;
    }
  }
  return n;
}

export interface Figures {
  series: number;
  bytes: number;
  ms: number;
  /** The fastest render: the least disturbed by other processes. */
  minMs: number;
  allocatedBytes: number;
}

/**
 * Every format of `formats` rendered in turn, run after run, so that a change in the machine's
 * load (2 cores shared) weighs on each alike.
 */
function measure(e: Exporter, formats: readonly ExpositionFormat[]): Figures[] {
  const out = new ExpositionBuffer();
  for (let i = 0; i < WARMUP; i++) {
    for (const format of formats) {
      out.reset();
      e.registry.renderTo(format, out);
    }
  }
  const times = formats.map(() => [] as number[]);
  const allocs = formats.map(() => [] as number[]);
  const last: Buffer[] = [];
  for (let i = 0; i < RUNS; i++) {
    formats.forEach((format, k) => {
      out.reset();
      gc!();
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      e.registry.renderTo(format, out);
      times[k]!.push(performance.now() - t0);
      allocs[k]!.push(process.memoryUsage().heapUsed - heap0);
      last[k] = Buffer.from(out.bytes());
    });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return formats.map((format, k) => ({
    series: seriesOf(format, last[k]!),
    bytes: last[k]!.length,
    ms: median(times[k]!),
    minMs: Math.min(...times[k]!),
    allocatedBytes: median(allocs[k]!),
  }));
}

function row(label: string, f: Figures): string {
  return (
    `| ${label} | ${f.series.toLocaleString('en')} | ${(f.bytes / 1e6).toFixed(2)} MB | ` +
    `${f.ms.toFixed(1)} ms | ${f.minMs.toFixed(1)} ms | ${(f.allocatedBytes / 1e6).toFixed(2)} MB |`
  );
}

/** One state's figures: text, OpenMetrics and protobuf (native), then protobuf (both). */
export interface FormatRow {
  devices: number;
  symbols: number;
  text: Figures;
  openmetrics: Figures;
  protobuf: Figures;
  protobufBoth: Figures;
}

const rows: FormatRow[] = [];
for (const symbols of [3400, 5000]) {
  const e = fleet(symbols, 'native');
  const [text, openmetrics, pb] = measure(e, ['text', 'openmetrics', 'protobuf']);
  e.stop();
  const both = fleet(symbols, 'both');
  const [, pbBoth] = measure(both, ['text', 'protobuf']);
  both.stop();
  rows.push({
    devices: DEVICES,
    symbols,
    text: text!,
    openmetrics: openmetrics!,
    protobuf: pb!,
    protobufBoth: pbBoth!,
  });
}

if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(rows)}\n`);
} else {
  console.log(
    '| state, format | series | bytes | render (median) | render (fastest) | allocated per render |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const label = `${r.devices.toLocaleString('en')} devices, ${r.symbols.toLocaleString('en')} symbols`;
    console.log(row(`${label}, text`, r.text));
    console.log(row(`${label}, OpenMetrics`, r.openmetrics));
    console.log(row(`${label}, protobuf (native)`, r.protobuf));
    console.log(row(`${label}, protobuf (both)`, r.protobufBoth));
  }
}
