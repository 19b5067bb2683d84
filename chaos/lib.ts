import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from '../bench/lib/http.js';
import { freePort, spawnTracked, stopChild, until, waitForPort } from '../bench/lib/procs.js';

export { sleep, until } from '../bench/lib/procs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

/** A private Mosquitto on a fixed loopback port that can be killed, frozen and started again. */
export class Mosquitto {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  static async start(extra: string[] = []): Promise<Mosquitto> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-chaos-mosquitto-'));
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 10000',
        ...extra,
        '',
      ].join('\n'),
    );
    const m = new Mosquitto(port, conf);
    await m.up();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  async up(): Promise<void> {
    this.child = spawnTracked('/usr/sbin/mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    await waitForPort(this.port, 5000);
  }

  /** SIGKILL: the broker vanishes as in a crash, every connection reset. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) {
      this.thaw();
      await stopChild(this.child);
    }
  }
}

/** A `tkmprom` subcommand in its own process, from the sources, its output in a file. */
export class Tkmprom {
  private child: ChildProcess | undefined;
  readonly logFile: string;
  private constructor(
    private readonly args: string[],
    readonly port: number,
  ) {
    this.logFile = join(mkdtempSync(join(tmpdir(), 'tkmprom-chaos-')), 'out.log');
  }

  /** The exporter on a free port; `args` after the subcommand. */
  static async exporter(args: string[]): Promise<Tkmprom> {
    const port = await freePort();
    const t = new Tkmprom(['run', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args], port);
    await t.start();
    return t;
  }

  /** `tkmprom broker` with a plain MQTT listener on a free port; ready once the port answers. */
  static async broker(args: string[], port?: number): Promise<Tkmprom> {
    const p = port ?? (await freePort());
    const t = new Tkmprom(['broker', '--listen', `127.0.0.1:${p}`, '--log-level', 'warn', ...args], p);
    await t.start(false);
    await waitForPort(p, 30_000);
    return t;
  }

  static async simulator(args: string[]): Promise<Tkmprom> {
    const t = new Tkmprom(['simulate', '--log-level', 'warn', ...args], 0);
    await t.start(false);
    return t;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  async start(waitHealthy = true): Promise<void> {
    const out = openSync(this.logFile, 'a');
    this.child = spawnTracked(process.execPath, ['--import', 'tsx', CLI, ...this.args], {
      cwd: ROOT,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    if (!waitHealthy) return;
    const ok = await until(async () => (await status(`${this.url}/healthz`)) === 200, 30_000, 100);
    if (!ok) throw new Error(`tkmprom ${this.args.join(' ')} did not answer /healthz:\n${this.logTail()}`);
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async kill9(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  async stop(graceMs = 15_000): Promise<void> {
    if (this.child !== undefined) await stopChild(this.child, graceMs);
    this.child = undefined;
  }

  /** Resolves when the process ends by itself. */
  exited(): Promise<void> {
    const c = this.child;
    if (c === undefined || c.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => c.once('exit', () => resolve()));
  }
}

export async function status(url: string): Promise<number> {
  try {
    return (await get(url, {}, 2000)).status;
  } catch {
    return 0;
  }
}

/** Every sample of a text exposition, by its series (`name{labels}`). */
export type Samples = Map<string, number>;

export async function scrape(base: string): Promise<Samples> {
  const r = await get(`${base}/metrics`, {}, 10_000);
  if (r.status !== 200) throw new Error(`GET ${base}/metrics: ${r.status}`);
  return parseExposition(r.body.toString('utf8'));
}

export function parseExposition(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** Sum of a family's samples (`name` or `name{...}`). */
export function total(s: Samples, name: string): number {
  let sum = 0;
  for (const [k, v] of s) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}

/** The counter series of `after` that read lower than in `before`: must be none. */
export function decreased(before: Samples, after: Samples): string[] {
  const out: string[] = [];
  for (const [k, v] of after) {
    const name = k.split('{')[0]!;
    if (
      !(
        name.endsWith('_total') ||
        name.endsWith('_count') ||
        name.endsWith('_bucket') ||
        name.endsWith('_sum')
      )
    )
      continue;
    if (name.startsWith('process_') || name.startsWith('nodejs_')) continue;
    const was = before.get(k);
    if (was !== undefined && v < was) out.push(`${k}: ${was} -> ${v}`);
  }
  return out;
}

export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** One checked figure of a chaos run. */
export interface Row {
  scenario: string;
  check: string;
  figure: string;
  pass: boolean;
}

export function row(scenario: string, check: string, figure: string | number, pass: boolean): Row {
  return { scenario, check, figure: String(figure), pass };
}

export { spawn };
