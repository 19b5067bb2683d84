import { type Ctx, caughtUp } from '../lib/context.js';
import type { Lane } from '../lib/lanes.js';
import { NoiseMeter, type Noise } from '../lib/measure.js';
import { cpuSeconds, sleep } from '../lib/procs.js';
import type { ReceiverName } from '../lib/receivers.js';

export interface Step {
  target: number;
  achieved: number;
  sent: number;
  lost: number;
  /** From the last frame written to the receiver having read everything; NaN if it never did. */
  drainMs: number;
  pass: boolean;
  /** The receiver's CPU over the step, % of one core: near 100 means it was the bottleneck. */
  receiverCpuPct: number;
  generatorCpuPct: number;
  /** Time the generator's socket was full: the broker was not taking frames as fast as asked. */
  blockedMs: number;
  noise: Noise;
}

export interface CeilingRun {
  steps: Step[];
  /** Achieved rate of the fastest step passed: zero loss and a drain within the lag limit. */
  maxSustained: number;
  limitedBy: 'receiver' | 'broker' | 'ladder top' | 'unknown';
}

export interface CeilingResult {
  stepSeconds: number;
  lagLimitMs: number;
  runs: Partial<Record<ReceiverName, CeilingRun>>;
  exporterToMqttjs: number;
}

const LAG_LIMIT_MS = 250;
const TOP = 400_000;

/** Climbs by a factor until a step fails, then bisects between the last pass and the first fail. */
class Ladder {
  private lastPass: Step | undefined;
  private firstFail = Number.POSITIVE_INFINITY;
  private bisections = 0;
  private retried = new Set<number>();
  done = false;
  limitedBy: CeilingRun['limitedBy'] = 'unknown';
  readonly steps: Step[] = [];

  constructor(
    private readonly start: number,
    private readonly factor: number,
    private readonly maxBisections: number,
    private readonly confirmFailures: boolean,
  ) {}

  next(): number | undefined {
    if (this.done) return undefined;
    if (this.lastPass === undefined) {
      return Number.isFinite(this.firstFail) ? Math.round(this.firstFail / this.factor) : this.start;
    }
    if (!Number.isFinite(this.firstFail)) return Math.round(this.lastPass.target * this.factor);
    const lo = this.lastPass.target;
    if (this.bisections >= this.maxBisections || (this.firstFail - lo) / lo < 0.04) {
      this.done = true;
      this.limitedBy = 'receiver';
      return undefined;
    }
    this.bisections++;
    return Math.round((lo + this.firstFail) / 2);
  }

  /** Returns true when the step should be run again (a first failure, confirmed in full runs). */
  record(step: Step): boolean {
    this.steps.push(step);
    if (!step.pass) {
      if (this.confirmFailures && !this.retried.has(step.target)) {
        this.retried.add(step.target);
        return true;
      }
      this.firstFail = Math.min(this.firstFail, step.target);
      if (this.lastPass === undefined && step.target < 2000) this.done = true;
      return false;
    }
    if (this.lastPass === undefined || step.achieved > this.lastPass.achieved) this.lastPass = step;
    if (step.achieved < 0.9 * step.target) {
      // The broker could not take frames faster: what is measured is its ceiling, not the receiver's.
      this.done = true;
      this.limitedBy = 'broker';
    } else if (step.target >= TOP) {
      this.done = true;
      this.limitedBy = 'ladder top';
    }
    return false;
  }

  result(): CeilingRun {
    const best = this.steps.filter((s) => s.pass).reduce((m, s) => Math.max(m, s.achieved), 0);
    return { steps: this.steps, maxSustained: best, limitedBy: this.limitedBy };
  }
}

/**
 * Maximum sustained rate of each receiver, each alone on its lane, tested in turn at the same rates so
 * that all three share the machine's noise over time.
 */
export async function ceiling(ctx: Ctx, lanes: Lane[]): Promise<CeilingResult> {
  const q = ctx.quick;
  const stepSeconds = q ? 2 : 4;
  const noise = new NoiseMeter();
  const ladders = new Map(
    lanes.map((l) => [l, new Ladder(q ? 60_000 : 30_000, q ? 1.8 : 1.25, q ? 0 : 2, !q)] as const),
  );
  for (let round = 0; [...ladders.values()].some((l) => !l.done); round++) {
    // Rotate who goes first, so that no receiver always follows the same neighbour.
    const order = lanes.map((_, i) => lanes[(i + round) % lanes.length]!);
    for (const lane of order) {
      const ladder = ladders.get(lane)!;
      let target = ladder.next();
      while (target !== undefined) {
        ctx.checkTime(`ceiling ${lane.name} at ${target}`);
        const step = await runStep(ctx, lane, target, stepSeconds, noise);
        ctx.log(
          `  ceiling ${lane.name.padEnd(13)} ${String(target).padStart(6)} msg/s: ${step.pass ? 'pass' : 'FAIL'} achieved ${Math.round(step.achieved)}, lost ${step.lost}, drain ${Number.isNaN(step.drainMs) ? '-' : step.drainMs.toFixed(0)} ms, receiver ${step.receiverCpuPct.toFixed(0)} % cpu, generator ${step.generatorCpuPct.toFixed(0)} %, other load ${step.noise.foreignCores.toFixed(2)} cores`,
        );
        target = ladder.record(step) ? target : undefined;
      }
    }
  }
  const runs: Partial<Record<ReceiverName, CeilingRun>> = {};
  for (const [lane, ladder] of ladders) runs[lane.name] = ladder.result();
  return {
    stepSeconds,
    lagLimitMs: LAG_LIMIT_MS,
    runs,
    exporterToMqttjs: (runs.exporter?.maxSustained ?? Number.NaN) / (runs.mqttjs?.maxSustained ?? Number.NaN),
  };
}

async function runStep(
  ctx: Ctx,
  lane: Lane,
  target: number,
  seconds: number,
  noise: NoiseMeter,
): Promise<Step> {
  const r = lane.receiver;
  const c0 = await r.count();
  const b0 = r.bytesIn();
  const cpu0 = cpuSeconds(r.pid);
  const g0 = cpuSeconds(ctx.gen.pid);
  const t0 = performance.now();
  noise.start([lane.broker.pid, ctx.gen.pid, r.pid]);
  const d = await lane.feed.play(target, target * seconds);
  const drainMs = await caughtUp(r, b0, d.bytes, 3000);
  const n = noise.stop();
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(r.pid);
  const g1 = cpuSeconds(ctx.gen.pid);
  await sleep(100);
  const c1 = await r.count();
  const lost = d.sent - (c1 - c0);
  const step: Step = {
    target,
    achieved: d.sent / (d.elapsedMs / 1000),
    sent: d.sent,
    lost,
    drainMs,
    // More than sent can only be a stray readiness probe arriving late: extra, not lost.
    pass: lost <= 0 && drainMs <= LAG_LIMIT_MS,
    receiverCpuPct: ((cpu1 - cpu0) / wall) * 100,
    generatorCpuPct: ((g1 - g0) / wall) * 100,
    blockedMs: d.blockedMs,
    noise: n,
  };
  // Let a receiver that fell behind empty its backlog before the next step.
  if (!step.pass) await sleep(1000);
  return step;
}
