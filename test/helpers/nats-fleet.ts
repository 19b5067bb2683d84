import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Truth } from '../../src/sim/index.js';
import { type ExporterProcess, sleep, spawnExporter } from './exporter.js';
import { NATS_TEST_PASSWORD, type NatsServer, startNatsServer } from './nats.js';
import type { Scrape } from './scrape.js';

export const NATS_ENV = { TKMPROM_NATS_PASSWORD: NATS_TEST_PASSWORD };
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** nats-server, one keyer and N exporters, each a process of its own with its own --state-dir. */
export interface NatsFleet {
  nats: NatsServer;
  exporters: ExporterProcess[];
  work: string;
  /** The arguments exporter k runs with. */
  args(k: number): string[];
  /** Starts exporter k again on its state directory; `probe` as for spawnExporter. */
  restart(k: number, probe?: (url: string) => Promise<void>): Promise<ExporterProcess>;
  /** Runs `tkmprom simulate` against nats-server's MQTT listener to its end; its ground truth. */
  simulate(args: string[], during?: () => Promise<void>): Promise<Truth>;
  destroy(): Promise<void>;
}

export async function startNatsFleet(n: number, exporterFlags: string[]): Promise<NatsFleet> {
  const nats = await startNatsServer(n);
  const work = mkdtempSync(join(tmpdir(), 'tkmprom-nats-fleet-'));
  const keyer = spawn(
    process.execPath,
    [
      ...CLI,
      'keyer',
      '--nats-url',
      `nats://127.0.0.1:${nats.port}`,
      '--partitions',
      String(n),
      '--log-level',
      'warn',
    ],
    { env: { ...process.env, ...NATS_ENV }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // The keyer creates the stream; the exporters find it.
  await sleep(1500);
  const dirs = Array.from({ length: n }, (_, k) => mkdtempSync(join(work, `state-${k}-`)));
  const args = (k: number) => [
    '--nats-url',
    `nats://127.0.0.1:${nats.port}`,
    '--partition',
    `${k}/${n}`,
    '--state-dir',
    dirs[k]!,
    ...exporterFlags,
  ];
  const exporters: ExporterProcess[] = [];
  for (let k = 0; k < n; k++) exporters.push(await spawnExporter(args(k), NATS_ENV));
  let runs = 0;
  return {
    nats,
    exporters,
    work,
    args,
    async restart(k, probe) {
      exporters[k] = await spawnExporter(args(k), NATS_ENV, probe);
      return exporters[k]!;
    },
    async simulate(simArgs, during) {
      const truthFile = join(work, `truth-${runs++}.json`);
      const sim = spawn(
        process.execPath,
        [
          ...CLI,
          'simulate',
          '--mqtt-url',
          nats.mqttUrl,
          ...simArgs,
          '--truth',
          truthFile,
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const done = exited(sim);
      await during?.();
      const code = await done;
      if (code !== 0) throw new Error(`the simulator exited with ${code}`);
      return JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;
    },
    async destroy() {
      for (const e of exporters) await e.stop();
      if (keyer.exitCode === null) {
        keyer.kill('SIGTERM');
        await exited(keyer);
      }
      await nats.destroy();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

export function writeScenario(fleet: NatsFleet, yaml: string): string {
  const file = join(fleet.work, 'scenario.yaml');
  writeFileSync(file, yaml);
  return file;
}

export type Counts = { requests: number; responses: number; timeouts: number; errors: number; late: number };
const FIELDS: Record<keyof Counts, string> = {
  requests: 'tickrmeter_stock_update_requests_total',
  responses: 'tickrmeter_stock_update_responses_total',
  timeouts: 'tickrmeter_stock_update_timeout_total',
  errors: 'tickrmeter_stock_update_errors_total',
  late: 'tickrmeter_stock_update_late_responses_total',
};

/** Per-symbol counts summed over every scrape, symbols with nothing left out. */
export function bySymbol(scrapes: Scrape[]): Record<string, Counts> {
  const out: Record<string, Partial<Counts>> = {};
  for (const s of scrapes) {
    for (const [field, name] of Object.entries(FIELDS) as [keyof Counts, string][]) {
      for (const [labels, v] of s.series(name)) {
        const symbol = /symbol="((?:[^"\\]|\\.)*)"/.exec(labels)![1]!.replace(/\\(.)/g, '$1');
        out[symbol] ??= {};
        out[symbol]![field] = (out[symbol]![field] ?? 0) + v;
      }
    }
  }
  return nonZero(out);
}

/** The truths' per-symbol counts added up, in the same form; symbols with nothing left out. */
export function truthBySymbol(...truths: Truth[]): Record<string, Counts> {
  const out: Record<string, Partial<Counts>> = {};
  for (const t of truths) {
    for (const [symbol, c] of Object.entries(t.symbols)) {
      out[symbol] ??= {};
      for (const f of Object.keys(FIELDS) as (keyof Counts)[])
        out[symbol]![f] = (out[symbol]![f] ?? 0) + ((c as Partial<Counts>)[f] ?? 0);
    }
  }
  return nonZero(out);
}

function nonZero(t: Record<string, Partial<Counts>>): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const [k, c] of Object.entries(t)) {
    const full = {
      requests: c.requests ?? 0,
      responses: c.responses ?? 0,
      timeouts: c.timeouts ?? 0,
      errors: c.errors ?? 0,
      late: c.late ?? 0,
    };
    if (full.requests + full.responses + full.timeouts + full.errors + full.late > 0) out[k] = full;
  }
  return out;
}
