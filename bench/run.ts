/**
 * tkmprom's benchmark harness: `npm run bench` (full, under 10 minutes) or `npm run bench -- --quick`
 * (under 2 minutes). Builds the CLI, then measures the exporter end to end in its own process,
 * through a private Mosquitto on loopback, against two references fed the same stream: a bare
 * MQTT.js subscriber and mosquitto_sub. Prints a one-screen summary beside the previous run's
 * figures and writes the results as JSON for the next run to compare against.
 *
 * Options:
 *   --quick             shorter windows, fewer sizes and steps; compared with the last quick run
 *   --only LIST         comma-separated scenarios: standard (CPU, ceiling, scrapes, API), load1k, memory,
 *                       inproc (new-id flood and state snapshots, in this process),
 *                       formats (the scrape in text, OpenMetrics and protobuf at 3,400 and
 *                       5,000 symbols); and, only when named (a full run would overrun its
 *                       budget), broker (QoS 0 relay through tkmprom broker and Mosquitto, 1 to
 *                       1,000 subscribers), nats (1, 2 and 3 exporters through nats-server and
 *                       a keyer, beside one exporter reading Mosquitto) and prometheus (two
 *                       Prometheus 2.42, native histograms and classic, scraping one demo: head
 *                       series and bytes per sample)
 *   --no-build          use the last build in bench/.dist as it is
 *   --no-save           do not replace the baseline results
 *   --baseline FILE     compare against FILE instead of the last run of the same mode
 *   --markdown          also print the figures as a Markdown table
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Ctx } from './lib/context.js';
import { BUILD_DIR, CLI } from './lib/exporter.js';
import { Generator } from './lib/gen-client.js';
import { median, type Noise } from './lib/measure.js';
import { installCleanup, killAllNow, stopAll } from './lib/procs.js';
import { compare, figuresOf, markdown, type Results, type Scenarios, summary } from './lib/report.js';
import { brokerRelay } from './scenarios/broker.js';
import { formats } from './scenarios/formats.js';
import { load1k } from './scenarios/load1k.js';
import { inproc } from './scenarios/inproc.js';
import { memoryGrowth } from './scenarios/memory.js';
import { natsScenario } from './scenarios/nats.js';
import { prometheusScenario } from './scenarios/prometheus.js';
import { standard } from './scenarios/standard.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const DEFAULT = ['standard', 'load1k', 'memory', 'inproc', 'formats'] as const;
/** Run only when asked for with --only: either would take a full run past its time budget. */
const EXTRA = ['broker', 'nats', 'prometheus'] as const;
type ScenarioName = (typeof DEFAULT)[number] | (typeof EXTRA)[number];
const KNOWN: readonly ScenarioName[] = [...DEFAULT, ...EXTRA];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
    baseline: { type: 'string' },
    markdown: { type: 'boolean', default: false },
  },
  strict: true,
});

const quick = values.quick === true;
const only = values.only ? (values.only.split(',').map((s) => s.trim()) as ScenarioName[]) : [...DEFAULT];
for (const s of only) {
  if (!KNOWN.includes(s)) {
    process.stderr.write(`bench: unknown scenario "${s}"; scenarios: ${KNOWN.join(', ')}\n`);
    process.exit(2);
  }
}
const partial = DEFAULT.some((s) => !only.includes(s));
const budgetSeconds = quick ? 118 : 580;
const baselineFile = values.baseline ?? join(RESULTS, quick ? 'last-quick.json' : 'last.json');

const started = Date.now();
const log = (line: string) =>
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);

function checkTime(what: string): void {
  if ((Date.now() - started) / 1000 > budgetSeconds) {
    throw new Error(`time budget of ${budgetSeconds} s spent before ${what}`);
  }
}

/** Newest modification time of the sources the CLI is built from. */
function newestSource(dir = join(ROOT, 'src')): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return Math.max(newest, statSync(join(ROOT, 'tsconfig.json')).mtimeMs);
}

function build(): void {
  if (values['no-build']) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: drop --no-build`);
    return;
  }
  if (existsSync(CLI) && statSync(CLI).mtimeMs > newestSource()) {
    log('the CLI in bench/.dist is newer than every source file: no build needed');
    return;
  }
  log('building the CLI (tsc -p tsconfig.build.json, into bench/.dist)');
  const before = Date.now();
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', BUILD_DIR], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  const emitted = existsSync(CLI) && statSync(CLI).mtimeMs >= before - 1000;
  if (r.status !== 0) {
    if (!emitted) throw new Error(`the build failed:\n${r.stdout}${r.stderr}`);
    // tsc emits despite type errors; the run goes on, but says so.
    log(`warning: the build reported errors, the CLI was emitted anyway:\n${(r.stdout + r.stderr).trim()}`);
  }
}

function commit(): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function readBaseline(): Results | undefined {
  try {
    const r = JSON.parse(readFileSync(baselineFile, 'utf8')) as Results;
    return r.schema === 1 ? r : undefined;
  } catch {
    return undefined;
  }
}

function noisesOf(s: Scenarios): Noise[] {
  const out: Noise[] = [];
  if (s.standard) {
    out.push(...s.standard.cpu.windows.map((w) => w.noise), s.standard.scrapeIngest.noise);
  }
  if (s.standard)
    for (const run of Object.values(s.standard.ceiling.runs)) out.push(...run.steps.map((st) => st.noise));
  if (s.load1k) out.push(s.load1k.noise);
  return out;
}

async function main(): Promise<number> {
  installCleanup();
  // A last resort: whatever hangs, the run ends and takes its children with it.
  const watchdog = setTimeout(
    () => {
      process.stderr.write('bench: watchdog expired, killing every child process\n');
      killAllNow();
      process.exit(3);
    },
    (budgetSeconds + 60) * 1000,
  );
  watchdog.unref();

  const previous = readBaseline();
  const loadavgAtStart = loadavg()[0]!;
  const scenarios: Scenarios = {};
  let error: string | undefined;
  build();
  const gen = await Generator.start();
  const ctx: Ctx = { quick, gen, log, checkTime };
  try {
    for (const name of only) {
      checkTime(name);
      log(`scenario ${name}`);
      if (name === 'standard') scenarios.standard = await standard(ctx);
      else if (name === 'load1k') scenarios.load1k = await load1k(ctx);
      else if (name === 'memory') scenarios.memory = await memoryGrowth(ctx);
      else if (name === 'inproc') scenarios.inproc = await inproc(ctx);
      else if (name === 'broker') scenarios.broker = await brokerRelay(ctx);
      else if (name === 'formats') scenarios.formats = await formats(ctx);
      else if (name === 'nats') scenarios.nats = await natsScenario(ctx);
      else if (name === 'prometheus') scenarios.prometheus = await prometheusScenario(ctx);
    }
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    log(`error: ${error}`);
  } finally {
    await gen.exit().catch(() => {});
    await stopAll();
  }

  const noises = noisesOf(scenarios).map((n) => n.foreignCores);
  const results: Results = {
    schema: 1,
    mode: quick ? 'quick' : 'full',
    complete: error === undefined && !partial,
    error: error?.split('\n')[0],
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    node: process.version,
    commit: commit(),
    machine: { cpus: cpus().length, loadavgAtStart, loadavgAtEnd: loadavg()[0]! },
    noise: {
      medianForeignCores: median(noises),
      maxForeignCores: noises.length ? Math.max(...noises) : Number.NaN,
      windows: noises.length,
    },
    figures: figuresOf(scenarios),
    scenarios,
  };
  const rows = compare(results.figures, previous);
  process.stdout.write(`\n${summary(results, rows, previous)}\n`);
  if (values.markdown) process.stdout.write(`\n${markdown(rows)}\n`);

  mkdirSync(RESULTS, { recursive: true });
  const stamp = join(RESULTS, quick ? 'latest-quick.json' : 'latest.json');
  writeFileSync(stamp, `${JSON.stringify(results, null, 2)}\n`);
  if (results.complete && !values['no-save']) {
    mkdirSync(dirname(baselineFile), { recursive: true });
    writeFileSync(
      join(RESULTS, quick ? 'last-quick.json' : 'last.json'),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    process.stdout.write(
      `\nresults: ${join('bench', 'results', quick ? 'last-quick.json' : 'last.json')} (the next ${results.mode} run compares against it)\n`,
    );
  } else {
    process.stdout.write(
      `\nresults: ${stamp.slice(ROOT.length)} only (${results.complete ? '--no-save' : partial ? 'partial run' : 'incomplete run'}: the baseline is unchanged)\n`,
    );
  }
  return error === undefined ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    killAllNow();
    process.exitCode = 1;
  },
);
