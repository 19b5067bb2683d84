import { readFileSync } from 'node:fs';
import { cpuSeconds } from './procs.js';

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Linear interpolation between order statistics; NaN for no data. */
export function quantile(xs: readonly number[], q: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const at = (v.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return v[lo]! + (v[hi]! - v[lo]!) * (at - lo);
}

export function spread(xs: readonly number[]): { min: number; max: number } {
  const v = xs.filter((x) => Number.isFinite(x));
  return { min: Math.min(...v), max: Math.max(...v) };
}

/** Least squares y = a + b x, with R². */
export function linearFit(
  xs: readonly number[],
  ys: readonly number[],
): { a: number; b: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  const b = sxy / sxx;
  return { a: my - b * mx, b, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

function machineJiffies(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // Fields: user nice system idle iowait irq softirq steal; idle and iowait are not busy.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, steal };
}

export interface Noise {
  /** Cores kept busy by processes other than the benchmark's own, on average over the window. */
  foreignCores: number;
  /** Cores' worth of time the hypervisor gave to someone else. */
  stealCores: number;
  loadavg: number;
}

/**
 * Measures how busy the machine was with other work during a window: every core's busy time,
 * minus what the benchmark's own processes (and the harness) used.
 */
export class NoiseMeter {
  private t0 = 0;
  private m0 = { busy: 0, steal: 0 };
  private own0 = 0;
  private pids: number[] = [];
  private readonly hz = 100;

  start(pids: number[]): void {
    this.pids = pids;
    this.t0 = performance.now();
    this.m0 = machineJiffies();
    this.own0 = this.own();
  }

  stop(): Noise {
    const wall = (performance.now() - this.t0) / 1000;
    const m1 = machineJiffies();
    const own = this.own() - this.own0;
    const busy = (m1.busy - this.m0.busy) / this.hz;
    return {
      foreignCores: Math.max(0, (busy - own) / wall),
      stealCores: (m1.steal - this.m0.steal) / this.hz / wall,
      loadavg: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    };
  }

  private own(): number {
    let s = 0;
    for (const pid of this.pids) {
      try {
        s += cpuSeconds(pid);
      } catch {
        // Gone already; its share is then counted as foreign, which errs on the noisy side.
      }
    }
    const u = process.cpuUsage();
    return s + (u.user + u.system) / 1e6;
  }
}
