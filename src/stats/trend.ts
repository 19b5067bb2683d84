import { MAX_VALUE, MIN_VALUE } from './sketch.js';
import { decode, encode } from './state-codec.js';

export type Trend = 'degrading' | 'stable' | 'improving' | 'unknown';

export interface TrendConfig {
  /** Recent window, default 5 min. */
  recentMs: number;
  /** Baseline before the recent window, default 1 h; rounded to a whole number of `recentMs`. */
  baselineMs: number;
  /** Fewer samples than this on either side leave a test undecided, default 20. */
  minSamples?: number;
  /** |Welch t| on log-latency that counts as significant, default 3. */
  tThreshold?: number;
  /** Ratio of geometric-mean latencies that matters in practice, default 1.5 (and 1 / 1.5). */
  minRatio?: number;
  /** |z| of the two-proportion test on failure rates that counts as significant, default 3. */
  zThreshold?: number;
  /** Change in failure rate that matters in practice, default 0.05 (5 percentage points). */
  minFailureDelta?: number;
}

export const DEFAULT_TREND_CONFIG: Readonly<TrendConfig> = Object.freeze({
  recentMs: 300_000,
  baselineMs: 3_600_000,
});

export interface TrendDetail {
  trend: Trend;
  /** Latency samples (responses) in the recent window and in the baseline. */
  recentSamples: number;
  baselineSamples: number;
  /** Geometric mean latency in seconds, NaN without samples. */
  recentMean: number;
  baselineMean: number;
  /** recentMean / baselineMean. */
  ratio: number;
  /** Welch t statistic of log-latency, recent minus baseline; NaN when undecided. */
  t: number;
  /** Quote outcomes (responses + failures). */
  recentRequests: number;
  baselineRequests: number;
  /** failures / requests, NaN without requests. */
  recentFailureRate: number;
  baselineFailureRate: number;
  /** Two-proportion z statistic, recent minus baseline; NaN when undecided. */
  z: number;
}

export function emptyTrendDetail(): TrendDetail {
  return {
    trend: 'unknown',
    recentSamples: 0,
    baselineSamples: 0,
    recentMean: Number.NaN,
    baselineMean: Number.NaN,
    ratio: Number.NaN,
    t: Number.NaN,
    recentRequests: 0,
    baselineRequests: 0,
    recentFailureRate: Number.NaN,
    baselineFailureRate: Number.NaN,
    z: Number.NaN,
  };
}

export interface TrendState {
  fineEpoch: number;
  coarseEpoch: number;
  data: string;
}

/** Fine buckets per recent window: the recent window slides by a fifth of itself. */
const FINE = 5;
// Per bucket: latency samples, sum of ln(latency), sum of ln(latency)^2, failures.
const N = 0;
const SUM = 1;
const SUM_SQ = 2;
const FAILURES = 3;
const FIELDS = 4;

const LN_MIN = Math.log(MIN_VALUE);
const LN_MAX = Math.log(MAX_VALUE);

const OBJECT_BYTES = 120;
const TYPED_ARRAY_BYTES = 192;

/** Decision scratch for `trend()`, so that asking for the trend allocates nothing. */
const shared = emptyTrendDetail();

/**
 * Latency and failure trend of one key: compares the recent window with the baseline before it.
 *
 * History is kept as sums per bucket, in one Float64Array dropped when the key goes idle: `FINE` (5)
 * fine buckets of `recentMs / 5` make the recent window (the current bucket and the 4 before it, so
 * between 4/5 and all of `recentMs`); a fine bucket leaving it is folded into a coarse bucket of
 * `recentMs`, and `baselineMs / recentMs + 1` coarse buckets make the baseline (between `baselineMs`
 * and `baselineMs + recentMs` of history just before the recent window). Defaults: 18 buckets of 4
 * numbers, 576 bytes per active key.
 *
 * Decision, each test needing `minSamples` (20) on both sides or staying undecided:
 * - latency, on ln(latency) (latency is roughly log-normal, so the test compares geometric means and
 *   is not thrown by a few slow outliers): Welch's t = (m_r - m_b) / sqrt(v_r/n_r + v_b/n_b) with
 *   sample means m and variances v; a change counts when |t| > 3 AND the ratio of geometric means
 *   exp(m_r - m_b) is >= 1.5 (degrading) or <= 1/1.5 (improving). The effect-size gate is what keeps
 *   a busy key with a tiny standard error from flapping on real but harmless drifts.
 * - failures (timeouts + errors over quote outcomes): pooled two-proportion z-test; a change counts
 *   when |z| > 3 AND the rates differ by at least 5 percentage points.
 * Degrading wins over improving (a faster key that fails more is worse); `stable` when at least one
 * test could decide and neither found a change; `unknown` when neither had enough data.
 */
export class TrendTracker {
  private readonly cfg: TrendConfig;
  private readonly fineMs: number;
  private readonly coarseCount: number;
  private fineEpoch = -1;
  private coarseEpoch = -1;
  /** FINE fine buckets, then coarseCount coarse buckets. */
  private data: Float64Array | null = null;

  constructor(cfg: TrendConfig) {
    if (!(cfg.recentMs >= FINE)) throw new RangeError('recentMs must be at least 5 ms');
    if (!(cfg.baselineMs >= cfg.recentMs)) throw new RangeError('baselineMs must be at least recentMs');
    this.cfg = cfg;
    this.fineMs = cfg.recentMs / FINE;
    this.coarseCount = Math.round(cfg.baselineMs / cfg.recentMs) + 1;
  }

  /** A quote answered in time. Latency is clamped to the sketch's range [0.5 ms, 120 s]. */
  response(nowMs: number, latencySeconds: number): void {
    const base = this.fineBase(nowMs);
    const d = this.data!;
    let x = Math.log(latencySeconds);
    // `!(x >= LN_MIN)` also maps NaN (negative latency) to the minimum.
    if (!(x >= LN_MIN)) x = LN_MIN;
    else if (x > LN_MAX) x = LN_MAX;
    d[base + N]++;
    d[base + SUM] += x;
    d[base + SUM_SQ] += x * x;
  }

  /** A timeout or an error reply. */
  failure(nowMs: number): void {
    const base = this.fineBase(nowMs);
    this.data![base + FAILURES]++;
  }

  trend(nowMs: number): Trend {
    return this.detail(nowMs, shared).trend;
  }

  /** Fills `out` (a fresh object if omitted) with the statistics behind the verdict. */
  detail(nowMs: number, out: TrendDetail = emptyTrendDetail()): TrendDetail {
    this.advance(nowMs);
    const d = this.data;
    let rn = 0;
    let rs = 0;
    let rq = 0;
    let rf = 0;
    let bn = 0;
    let bs = 0;
    let bq = 0;
    let bf = 0;
    if (d !== null) {
      const split = FINE * FIELDS;
      for (let i = 0; i < split; i += FIELDS) {
        rn += d[i + N];
        rs += d[i + SUM];
        rq += d[i + SUM_SQ];
        rf += d[i + FAILURES];
      }
      for (let i = split; i < d.length; i += FIELDS) {
        bn += d[i + N];
        bs += d[i + SUM];
        bq += d[i + SUM_SQ];
        bf += d[i + FAILURES];
      }
    }
    const cfg = this.cfg;
    // Two samples at least, so that a sample variance exists.
    const minSamples = Math.max(2, cfg.minSamples ?? 20);
    const minRatio = cfg.minRatio ?? 1.5;
    const tThreshold = cfg.tThreshold ?? 3;
    const zThreshold = cfg.zThreshold ?? 3;
    const minDelta = cfg.minFailureDelta ?? 0.05;

    const rm = rs / rn;
    const bm = bs / bn;
    out.recentSamples = rn;
    out.baselineSamples = bn;
    out.recentMean = rn > 0 ? Math.exp(rm) : Number.NaN;
    out.baselineMean = bn > 0 ? Math.exp(bm) : Number.NaN;
    out.ratio = rn > 0 && bn > 0 ? Math.exp(rm - bm) : Number.NaN;
    let decided = false;
    let worse = false;
    let better = false;
    out.t = Number.NaN;
    if (rn >= minSamples && bn >= minSamples) {
      decided = true;
      const rv = Math.max(0, (rq - rs * rm) / (rn - 1));
      const bv = Math.max(0, (bq - bs * bm) / (bn - 1));
      const se = Math.sqrt(rv / rn + bv / bn);
      const diff = rm - bm;
      const t =
        se > 0 ? diff / se : diff === 0 ? 0 : diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      out.t = t;
      if (t > tThreshold && out.ratio >= minRatio) worse = true;
      if (t < -tThreshold && out.ratio <= 1 / minRatio) better = true;
    }

    const rRequests = rn + rf;
    const bRequests = bn + bf;
    out.recentRequests = rRequests;
    out.baselineRequests = bRequests;
    out.recentFailureRate = rRequests > 0 ? rf / rRequests : Number.NaN;
    out.baselineFailureRate = bRequests > 0 ? bf / bRequests : Number.NaN;
    out.z = Number.NaN;
    if (rRequests >= minSamples && bRequests >= minSamples) {
      decided = true;
      const pr = rf / rRequests;
      const pb = bf / bRequests;
      const pooled = (rf + bf) / (rRequests + bRequests);
      const se = Math.sqrt(pooled * (1 - pooled) * (1 / rRequests + 1 / bRequests));
      const diff = pr - pb;
      const z = se > 0 ? diff / se : 0;
      out.z = z;
      if (z > zThreshold && diff >= minDelta) worse = true;
      if (z < -zThreshold && -diff >= minDelta) better = true;
    }
    out.trend = worse ? 'degrading' : better ? 'improving' : decided ? 'stable' : 'unknown';
    return out;
  }

  /** True when neither the recent window nor the baseline holds anything at `nowMs`. */
  isEmpty(nowMs: number): boolean {
    this.advance(nowMs);
    return this.data === null;
  }

  /** The history, for a state snapshot (epochs in the exporter's monotonic frame); null when empty. */
  saveState(): TrendState | null {
    if (this.data === null) return null;
    return { fineEpoch: this.fineEpoch, coarseEpoch: this.coarseEpoch, data: encode(this.data) };
  }

  loadState(state: TrendState): void {
    const data = new Float64Array(decode(state.data, 8));
    if (data.length !== (FINE + this.coarseCount) * FIELDS)
      throw new RangeError('trend state of another baseline');
    this.fineEpoch = state.fineEpoch;
    this.coarseEpoch = state.coarseEpoch;
    this.data = data;
  }

  approxBytes(): number {
    return OBJECT_BYTES + (this.data === null ? 0 : TYPED_ARRAY_BYTES + this.data.byteLength);
  }

  /** Offset of the current fine bucket, allocating the history on first use. */
  private fineBase(nowMs: number): number {
    this.advance(nowMs);
    if (this.data === null) this.data = new Float64Array((FINE + this.coarseCount) * FIELDS);
    return (this.fineEpoch % FINE) * FIELDS;
  }

  private advance(nowMs: number): void {
    const epoch = Math.floor(nowMs / this.fineMs);
    if (epoch <= this.fineEpoch) return;
    const d = this.data;
    if (d !== null) {
      // Fine buckets of epochs up to `epoch - FINE` leave the recent window, oldest first.
      const last = Math.min(this.fineEpoch, epoch - FINE);
      for (let e = Math.max(this.fineEpoch - FINE + 1, 0); e <= last; e++) this.fold(d, e);
      this.advanceCoarse(d, Math.floor((epoch - FINE) / FINE));
      if (isZero(d)) this.data = null;
    }
    this.fineEpoch = epoch;
  }

  private fold(d: Float64Array, fineEpoch: number): void {
    const from = (fineEpoch % FINE) * FIELDS;
    if (d[from + N] === 0 && d[from + FAILURES] === 0) return;
    const coarse = Math.floor(fineEpoch / FINE);
    this.advanceCoarse(d, coarse);
    const to = (FINE + (coarse % this.coarseCount)) * FIELDS;
    for (let k = 0; k < FIELDS; k++) {
      d[to + k] += d[from + k];
      d[from + k] = 0;
    }
  }

  private advanceCoarse(d: Float64Array, epoch: number): void {
    if (epoch <= this.coarseEpoch) return;
    const count = this.coarseCount;
    const from = Math.max(this.coarseEpoch + 1, epoch - count + 1);
    for (let e = from; e <= epoch; e++) {
      const at = (FINE + (e % count)) * FIELDS;
      d.fill(0, at, at + FIELDS);
    }
    this.coarseEpoch = epoch;
  }
}

function isZero(d: Float64Array): boolean {
  for (let i = 0; i < d.length; i += FIELDS) if (d[i + N] !== 0 || d[i + FAILURES] !== 0) return false;
  return true;
}
