import type { BrokerResult } from '../scenarios/broker.js';
import type { Load1kResult } from '../scenarios/load1k.js';
import type { FormatsResult } from '../scenarios/formats.js';
import type { InprocResult } from '../scenarios/inproc.js';
import type { MemoryResult } from '../scenarios/memory.js';
import type { NatsResult } from '../scenarios/nats.js';
import type { PrometheusResult } from '../scenarios/prometheus.js';
import type { StandardResult } from '../scenarios/standard.js';

export interface Scenarios {
  standard?: StandardResult;
  load1k?: Load1kResult;
  memory?: MemoryResult;
  inproc?: InprocResult;
  broker?: BrokerResult;
  formats?: FormatsResult;
  nats?: NatsResult;
  prometheus?: PrometheusResult;
}

export interface Target {
  op: '<' | '<=' | '>=' | '==';
  value: number;
}

export interface Figure {
  key: string;
  label: string;
  unit: string;
  value: number;
  better: 'lower' | 'higher';
  target?: Target;
}

export interface Results {
  schema: 1;
  mode: 'full' | 'quick';
  complete: boolean;
  error?: string;
  startedAt: string;
  durationSeconds: number;
  command: string;
  node: string;
  commit: string;
  machine: { cpus: number; loadavgAtStart: number; loadavgAtEnd: number };
  /** Cores busy with other work during the measurement windows: median and worst. */
  noise: { medianForeignCores: number; maxForeignCores: number; windows: number };
  figures: Figure[];
  scenarios: Scenarios;
}

const MB = 1e6;

/** The headline figures, in the order of the issue, from whichever scenarios ran. */
export function figuresOf(s: Scenarios): Figure[] {
  const f: Figure[] = [];
  const add = (x: Figure) => {
    if (Number.isFinite(x.value) || x.target !== undefined) f.push(x);
  };
  const c = s.standard?.ceiling;
  if (c) {
    for (const [name, label] of [
      ['exporter', 'exporter'],
      ['mqttjs', 'bare MQTT.js subscriber'],
      ['mosquitto_sub', 'mosquitto_sub'],
    ] as const) {
      const run = c.runs[name];
      if (run) {
        add({
          key: `ceiling.${name}`,
          label: `max sustained rate, ${label} (${run.limitedBy})`,
          unit: 'msg/s',
          value: run.maxSustained,
          better: 'higher',
        });
      }
    }
    add({
      key: 'ceiling.ratio',
      label: 'max sustained rate, exporter / MQTT.js',
      unit: 'x',
      value: c.exporterToMqttjs,
      better: 'higher',
      target: { op: '>=', value: 0.8 },
    });
  }
  const st = s.standard;
  if (st) {
    const cpu = st.cpu;
    add({
      key: 'cpu.exporter_us',
      label: `CPU per message at ${cpu.rate / 1000}k msg/s, exporter`,
      unit: 'µs',
      value: cpu.usPerMessage.exporter,
      better: 'lower',
    });
    add({
      key: 'cpu.mqttjs_us',
      label: `CPU per message at ${cpu.rate / 1000}k msg/s, bare MQTT.js`,
      unit: 'µs',
      value: cpu.usPerMessage.mqttjs,
      better: 'lower',
    });
    add({
      key: 'cpu.mosquitto_sub_us',
      label: `CPU per message at ${cpu.rate / 1000}k msg/s, mosquitto_sub`,
      unit: 'µs',
      value: cpu.usPerMessage.mosquitto_sub,
      better: 'lower',
    });
    add({
      key: 'cpu.exporter_msgs_per_cpu_s',
      label: 'messages per CPU-second, exporter',
      unit: 'msg/CPU-s',
      value: cpu.messagesPerCpuSecond.exporter,
      better: 'higher',
    });
    add({
      key: 'cpu.ratio',
      label: 'CPU per message, exporter / MQTT.js',
      unit: 'x',
      value: cpu.exporterToMqttjs,
      better: 'lower',
      target: { op: '<=', value: 1.5 },
    });
    add({
      key: 'cpu.lost',
      label: `messages lost by the exporter at ${cpu.rate / 1000}k msg/s`,
      unit: 'msg',
      value: cpu.lost.exporter,
      better: 'lower',
      target: { op: '==', value: 0 },
    });
  }
  const l = s.load1k;
  if (l) {
    add({
      key: 'load1k.cpu_pct',
      label: 'CPU at 1,000 msg/s (8k devices, 3.4k symbols, scraped every 15 s)',
      unit: '% core',
      value: l.cpuPct,
      better: 'lower',
      target: { op: '<', value: 3 },
    });
    add({
      key: 'load1k.mqttjs_cpu_pct',
      label: 'CPU at 1,000 msg/s, bare MQTT.js subscriber (the client floor)',
      unit: '% core',
      value: l.mqttjsCpuPct,
      better: 'lower',
    });
    add({
      key: 'load1k.rss_mb',
      label: 'RSS at 1,000 msg/s (median over the window)',
      unit: 'MB',
      value: l.rssBytes / MB,
      better: 'lower',
      target: { op: '<', value: 120 },
    });
    add({
      key: 'load1k.rss_max_mb',
      label: 'RSS at 1,000 msg/s, highest over the window',
      unit: 'MB',
      value: l.rssMaxBytes / MB,
      better: 'lower',
    });
  }
  const nats = s.nats;
  if (nats) {
    const who = (n: number) => (n === 0 ? 'MQTT, 1 exporter' : `NATS, ${n} exporter${n > 1 ? 's' : ''}`);
    for (const r of nats.steady) {
      add({
        key: `nats.steady_${r.instances}_us_per_msg`,
        label: `CPU per message at ${r.offeredRate / 1000}k msg/s, ${who(r.instances)} (exporters, keyer, broker)`,
        unit: 'µs',
        value: r.usPerMessage.total,
        better: 'lower',
      });
    }
    for (const r of nats.ceiling) {
      add({
        key: `nats.ceiling_${r.instances}_msgs`,
        label: `messages read per second with ${r.offeredRate / 1000}k msg/s offered, ${who(r.instances)}`,
        unit: 'msg/s',
        value: r.throughput,
        better: 'higher',
      });
    }
  }
  const m = s.memory;
  if (m) {
    for (const r of m.rows) {
      const is100k = r.devices === 100_000;
      add({
        key: `memory.rss_${r.devices / 1000}k_mb`,
        label: `RSS, ${r.devices.toLocaleString('en')} devices, ${r.symbols.toLocaleString('en')} symbols`,
        unit: 'MB',
        value: r.rssBytes / MB,
        better: 'lower',
        target: is100k ? { op: '<', value: 400 } : undefined,
      });
    }
    add({
      key: 'memory.bytes_per_device',
      label: `RSS growth per device (fit over ${m.rows.length} sizes, R² ${m.r2.toFixed(3)})`,
      unit: 'B',
      value: m.bytesPerDevice,
      better: 'lower',
    });
  }
  const prom = s.prometheus;
  if (prom) {
    const after = `after ${Math.round(prom.seconds / 60)} min of the demo`;
    for (const [mode, h] of [
      ['native', prom.native],
      ['classic', prom.classic],
    ] as const) {
      add({
        key: `prometheus.${mode}_scraped_series`,
        label: `Prometheus series of a scrape, ${mode} histograms`,
        unit: '',
        value: h.scraped,
        better: 'lower',
      });
      add({
        key: `prometheus.${mode}_recorded_series`,
        label: `Prometheus series of the shipped recording rules, ${mode}`,
        unit: '',
        value: h.recorded,
        better: 'lower',
      });
      add({
        key: `prometheus.${mode}_head_series`,
        label: `Prometheus head series (ended ones too), ${mode}`,
        unit: '',
        value: h.head,
        better: 'lower',
      });
      add({
        key: `prometheus.${mode}_chunk_mb`,
        label: `Prometheus chunk bytes ${after}, ${mode}`,
        unit: 'MB',
        value: h.bytes / MB,
        better: 'lower',
      });
      add({
        key: `prometheus.${mode}_bytes_per_sample`,
        label: `Prometheus bytes per sample, ${mode}`,
        unit: 'B/sample',
        value: h.bytes / h.samples,
        better: 'lower',
      });
    }
    add({
      key: 'prometheus.scraped_ratio',
      label: 'series of a scrape, native / classic',
      unit: 'x',
      value: prom.native.scraped / prom.classic.scraped,
      better: 'lower',
      target: { op: '<=', value: 0.35 },
    });
    add({
      key: 'prometheus.head_less_recorded_ratio',
      label: 'head series less the recorded ones (a Prometheus without rules), native / classic',
      unit: 'x',
      value: (prom.native.head - prom.native.recorded) / (prom.classic.head - prom.classic.recorded),
      better: 'lower',
    });
    add({
      key: 'prometheus.head_ratio',
      label: 'head series (ended ones too), native / classic',
      unit: 'x',
      value: prom.native.head / prom.classic.head,
      better: 'lower',
    });
    add({
      key: 'prometheus.bytes_ratio',
      label: `chunk bytes ${after}, native / classic`,
      unit: 'x',
      value: prom.native.bytes / prom.classic.bytes,
      better: 'lower',
    });
  }
  for (const r of s.formats?.rows ?? []) {
    const k = `formats.${r.symbols}`;
    const what = `${r.devices.toLocaleString('en')} devices, ${r.symbols.toLocaleString('en')} symbols`;
    for (const [name, fig] of [
      ['text', r.text],
      ['openmetrics', r.openmetrics],
      ['protobuf', r.protobuf],
    ] as const) {
      add({
        key: `${k}.${name}_ms`,
        label: `/metrics render, ${name}, ${what}`,
        unit: 'ms',
        value: fig.ms,
        better: 'lower',
      });
      add({
        key: `${k}.${name}_mb`,
        label: `/metrics size, ${name}, ${what}`,
        unit: 'MB',
        value: fig.bytes / MB,
        better: 'lower',
      });
      add({
        key: `${k}.${name}_series`,
        label: `series stored from ${name}, ${what}`,
        unit: '',
        value: fig.series,
        better: 'lower',
      });
    }
    add({
      key: `${k}.protobuf_to_text`,
      label: `protobuf render / text render, ${what}`,
      unit: 'x',
      value: r.protobuf.ms / r.text.ms,
      better: 'lower',
      ...(r.symbols === 3400 ? { target: { op: '<=', value: 1 } as Target } : {}),
    });
  }
  const ip = s.inproc;
  if (ip) {
    add({
      key: 'inproc.new_ids_per_s',
      label: `requests from ${ip.newIds.toLocaleString('en')} distinct new device ids, one core, in-process`,
      unit: 'msg/s',
      value: ip.newIdsPerSecond,
      better: 'higher',
      target: { op: '>=', value: 50_000 },
    });
    add({
      key: 'inproc.new_to_known',
      label: `new ids / the same requests from 8,000 known devices (${Math.round(ip.knownIdsPerSecond).toLocaleString('en')} msg/s)`,
      unit: 'x',
      value: ip.newIdsPerSecond / ip.knownIdsPerSecond,
      better: 'higher',
    });
    for (const sn of ip.snapshots) {
      const k = `${sn.devices / 1000}k`;
      const what = `${sn.devices.toLocaleString('en')} devices, ${sn.symbols.toLocaleString('en')} symbols`;
      add({
        key: `state.${k}_ms`,
        label: `state snapshot time, ${what}`,
        unit: 'ms',
        value: sn.ms,
        better: 'lower',
      });
      add({
        key: `state.${k}_mb`,
        label: `state snapshot size, ${what}`,
        unit: 'MB',
        value: sn.bytes / MB,
        better: 'lower',
      });
      add({
        key: `state.${k}_pause_ms`,
        label: `longest ingest pause while snapshotting, ${what}`,
        unit: 'ms',
        value: sn.longestPauseMs,
        better: 'lower',
        target: { op: '<', value: 50 },
      });
    }
  }
  const br = s.broker;
  if (br) {
    for (const n of [1, 10, 100, 1000]) {
      for (const name of ['tkmprom', 'mosquitto'] as const) {
        const runs = br.runs.filter(
          (r) => r.broker === name && r.subscribers === n && Number.isFinite(r.msgsPerSecond),
        );
        if (runs.length === 0) continue;
        const bestRun = runs.reduce((a, b) => (b.msgsPerSecond > a.msgsPerSecond ? b : a));
        add({
          key: `broker.${name}_${n}`,
          label: `QoS 0 relay, ${name === 'tkmprom' ? 'tkmprom broker' : 'Mosquitto'}, 1 publisher to ${n.toLocaleString('en')} subscriber${n > 1 ? 's' : ''} (per subscriber; lost ${bestRun.lost})`,
          unit: 'msg/s',
          value: bestRun.msgsPerSecond,
          better: 'higher',
        });
      }
    }
    add({
      key: 'broker.ratio',
      label: 'QoS 0 relay to one subscriber, tkmprom broker / Mosquitto',
      unit: 'x',
      value: br.ratio,
      better: 'higher',
      target: { op: '>=', value: 0.7 },
    });
  }
  if (st) {
    add({
      key: 'scrape.default_ms',
      label: 'scrape, 8k devices, default labels (as Prometheus asks)',
      unit: 'ms',
      value: st.scrapeIdle.prometheus.medianMs,
      better: 'lower',
      target: { op: '<', value: 50 },
    });
    add({
      key: 'scrape.default_plain_ms',
      label: 'scrape, 8k devices, default labels (plain text, no gzip)',
      unit: 'ms',
      value: st.scrapeIdle.plain.medianMs,
      better: 'lower',
    });
    add({
      key: 'scrape.default_mb',
      // "on the wire" is what a Prometheus-style scrape received: the body, compressed if the exporter compresses.
      label: `scrape size, default labels (${st.scrapeIdle.plain.series} series; ${(st.scrapeIdle.prometheus.wireBytes / MB).toFixed(2)} MB on the wire)`,
      unit: 'MB',
      value: st.scrapeIdle.plain.bytes / MB,
      better: 'lower',
    });
    add({
      key: 'scrape.per_device_ms',
      label: `scrape with --per-device-metrics ${st.perDevice.devices} (as Prometheus asks)`,
      unit: 'ms',
      value: st.perDevice.prometheus.medianMs,
      better: 'lower',
    });
    add({
      key: 'scrape.per_device_mb',
      label: `scrape size with per-device series (${st.perDevice.plain.series} series)`,
      unit: 'MB',
      value: st.perDevice.plain.bytes / MB,
      better: 'lower',
    });
    add({
      key: 'scrape.ingest_ms',
      label: `scrape every 1 s during ${st.scrapeIngest.rate / 1000}k msg/s ingest (median; max ${st.scrapeIngest.scrape.maxMs.toFixed(0)} ms)`,
      unit: 'ms',
      value: st.scrapeIngest.scrape.medianMs,
      better: 'lower',
      target: { op: '<', value: 50 },
    });
    add({
      key: 'scrape.ingest_lost',
      label: 'messages lost by the exporter while scraped every 1 s',
      unit: 'msg',
      value: st.scrapeIngest.lost.exporter,
      better: 'lower',
      target: { op: '==', value: 0 },
    });
    add({
      key: 'visibility.ms',
      label: `reply published to visible in a scrape (median; the scrape takes ${st.visibility.scrapeMedianMs.toFixed(0)} ms)`,
      unit: 'ms',
      value: st.visibility.medianMs,
      better: 'lower',
    });
    if (!('skipped' in st.api)) {
      add({
        key: 'api.p99_ms',
        label: `API p99 at ${st.api.requestsPerSecond} req/s during ${st.api.rate / 1000}k msg/s`,
        unit: 'ms',
        value: st.api.p99Ms,
        better: 'lower',
        target: { op: '<', value: 20 },
      });
      add({
        key: 'api.lost',
        label: 'messages lost by the exporter during the API load',
        unit: 'msg',
        value: st.api.lost.exporter,
        better: 'lower',
        target: { op: '==', value: 0 },
      });
    }
  }
  return f;
}

export function meets(fig: Figure): boolean | undefined {
  const t = fig.target;
  if (t === undefined) return undefined;
  const v = fig.value;
  if (!Number.isFinite(v)) return false;
  switch (t.op) {
    case '<':
      return v < t.value;
    case '<=':
      return v <= t.value;
    case '>=':
      return v >= t.value;
    case '==':
      return v === t.value;
  }
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (unit === 'msg/s' || unit === 'msg/CPU-s' || unit === 'B' || unit === 'msg')
    return Math.round(v).toLocaleString('en');
  if (unit === 'x') return v.toFixed(2);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
}

/** Relative change beyond which a figure is flagged: what this machine's noise allows, roughly. */
export const FLAG_CHANGE = 0.15;

export interface Row {
  figure: Figure;
  previous: number | undefined;
  change: number | undefined;
  flag: '' | 'better' | 'WORSE';
  met: boolean | undefined;
}

export function compare(figures: Figure[], previous: Results | undefined): Row[] {
  const prev = new Map(previous?.figures.map((f) => [f.key, f.value]));
  return figures.map((fig) => {
    const p = prev.get(fig.key);
    let change: number | undefined;
    let flag: Row['flag'] = '';
    if (p !== undefined && Number.isFinite(p) && p !== 0 && Number.isFinite(fig.value)) {
      change = (fig.value - p) / Math.abs(p);
      const worse = fig.better === 'lower' ? change > FLAG_CHANGE : change < -FLAG_CHANGE;
      const better = fig.better === 'lower' ? change < -FLAG_CHANGE : change > FLAG_CHANGE;
      flag = worse ? 'WORSE' : better ? 'better' : '';
    } else if (p !== undefined && p === 0 && fig.value !== 0 && fig.better === 'lower') {
      flag = 'WORSE';
    }
    return { figure: fig, previous: p, change, flag, met: meets(fig) };
  });
}

function targetText(t: Target | undefined, unit: string): string {
  if (!t) return '';
  return `${t.op} ${fmt(t.value, unit)}`;
}

/** The one-screen summary. */
export function summary(r: Results, rows: Row[], previous: Results | undefined): string {
  const lines: string[] = [];
  lines.push(
    `tkmprom benchmark (${r.mode}${r.complete ? '' : ', INCOMPLETE'}) ${r.startedAt}, ${r.durationSeconds.toFixed(0)} s, node ${r.node}, commit ${r.commit.slice(0, 10)}`,
  );
  lines.push(
    `noise: other work kept ${r.noise.medianForeignCores.toFixed(2)} of ${r.machine.cpus} cores busy (median over ${r.noise.windows} windows, worst ${r.noise.maxForeignCores.toFixed(2)}); load average ${r.machine.loadavgAtStart.toFixed(2)} -> ${r.machine.loadavgAtEnd.toFixed(2)}`,
  );
  lines.push(
    previous
      ? `previous: ${previous.mode} run of ${previous.startedAt} (commit ${previous.commit.slice(0, 10)}); changes beyond ${FLAG_CHANGE * 100} % are flagged`
      : 'previous: none (this run becomes the baseline)',
  );
  lines.push('');
  const header = ['figure', 'now', 'previous', 'change', 'target', ''];
  const body = rows.map((row) => [
    row.figure.label,
    `${fmt(row.figure.value, row.figure.unit)} ${row.figure.unit}`,
    row.previous === undefined ? '-' : `${fmt(row.previous, row.figure.unit)}`,
    row.change === undefined
      ? ''
      : `${row.change >= 0 ? '+' : ''}${(row.change * 100).toFixed(0)} %${row.flag ? ` ${row.flag}` : ''}`,
    targetText(row.figure.target, row.figure.unit),
    row.met === undefined ? '' : row.met ? 'met' : 'NOT MET',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(line(header));
  for (const b of body) lines.push(line(b));
  if (r.scenarios.standard && 'skipped' in r.scenarios.standard.api) {
    lines.push('', `API under load: ${r.scenarios.standard.api.skipped}`);
  }
  if (r.scenarios.memory) {
    const m = r.scenarios.memory;
    lines.push(
      '',
      `RSS = ${(m.interceptBytes / MB).toFixed(1)} MB + ${Math.round(m.bytesPerDevice)} B x devices (R² ${m.r2.toFixed(3)}, ${m.passes} full update cycle(s) per device)`,
    );
  }
  if (r.error) lines.push('', `stopped early: ${r.error}`);
  return lines.join('\n');
}

/** The same table in Markdown, for BENCHMARKS.md. */
export function markdown(rows: Row[]): string {
  const out = ['| figure | now | previous | change | target | |', '|---|---:|---:|---:|---|---|'];
  for (const row of rows) {
    out.push(
      `| ${row.figure.label} | ${fmt(row.figure.value, row.figure.unit)} ${row.figure.unit} | ${row.previous === undefined ? '-' : fmt(row.previous, row.figure.unit)} | ${row.change === undefined ? '' : `${row.change >= 0 ? '+' : ''}${(row.change * 100).toFixed(0)} %`} | ${targetText(row.figure.target, row.figure.unit)} | ${row.met === undefined ? '' : row.met ? 'met' : '**not met**'} |`,
    );
  }
  return out.join('\n');
}
