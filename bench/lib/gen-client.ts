import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GeneratorReply, GeneratorRequest } from '../generator.js';
import type { FleetSpec } from './fleet.js';
import { forkTracked, stopChild } from './procs.js';

export type Scripted = Extract<GeneratorReply, { op: 'scripted' }>;
export type Done = Extract<GeneratorReply, { op: 'done' }>;
export type Progress = Extract<GeneratorReply, { op: 'progress' }>;

/** The parent's side of bench/generator.ts. */
export class Generator {
  private waiting: Array<{ op: string; resolve: (m: GeneratorReply) => void; reject: (e: Error) => void }> =
    [];
  private readonly scripts = new Map<string, Scripted>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const m = raw as GeneratorReply;
      if (m.op === 'error') {
        const w = this.waiting.shift();
        if (w) w.reject(new Error(`generator: ${m.message}`));
        else process.stderr.write(`generator: ${m.message}\n`);
        return;
      }
      const i = this.waiting.findIndex((w) => w.op === m.op);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`generator exited (${code ?? signal})`));
    });
  }

  static async start(): Promise<Generator> {
    const child = forkTracked(fileURLToPath(new URL('../generator.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Generator(child);
  }

  /** A publishing connection to one broker, named for later plays. */
  async connect(name: string, port: number): Promise<void> {
    await this.call(
      { op: 'connect', name, port, clientId: `bench-gen-${name}-${process.pid}` },
      'connected',
      10_000,
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  private call<T extends GeneratorReply>(req: GeneratorRequest, op: T['op'], timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = {
        op,
        resolve: (m: GeneratorReply) => {
          clearTimeout(timer);
          resolve(m as T);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`generator: no ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(entry);
      this.child.send(req);
    });
  }

  /** Builds (once per id) the frames of a fleet; cached in the generator for later plays. */
  async script(id: string, spec: FleetSpec): Promise<Scripted> {
    const known = this.scripts.get(id);
    if (known) return known;
    const s = await this.call<Scripted>({ op: 'script', id, spec }, 'scripted', 120_000);
    this.scripts.set(id, s);
    return s;
  }

  /** Plays `frames` frames at `rate` and resolves once they are all written. */
  play(conn: string, script: string, rate: number, frames: number, from = 0): Promise<Done> {
    const timeoutMs = Math.max(30_000, (frames / rate) * 1000 * 3 + 10_000);
    return this.call<Done>({ op: 'play', conn, script, rate, frames, from }, 'done', timeoutMs);
  }

  /** Starts an endless play; `stop()` ends it and resolves the promise with its totals. */
  playUntilStopped(conn: string, script: string, rate: number, from = 0): Promise<Done> {
    return this.call<Done>(
      { op: 'play', conn, script, rate, frames: Number.MAX_SAFE_INTEGER, from },
      'done',
      3_600_000,
    );
  }

  progress(): Promise<Progress> {
    return this.call<Progress>({ op: 'progress' }, 'progress', 5000);
  }

  stop(): void {
    this.child.send({ op: 'stop' } satisfies GeneratorRequest);
  }

  async exit(): Promise<void> {
    if (this.child.connected) this.child.send({ op: 'exit' } satisfies GeneratorRequest);
    await stopChild(this.child, 2000);
  }
}
