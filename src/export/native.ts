/**
 * Native histogram buckets as Prometheus defines them: exponential buckets of schema `s`, whose
 * boundaries are the powers of `2^(2^-s)`, so that bucket `i` covers `(2^((i-1)/2^s), 2^(i/2^s)]`
 * (1 is the upper bound of bucket 0), plus a zero bucket for everything at or below the zero
 * threshold. The counts are cumulative over the life of the series, like a counter.
 *
 * This library supports schemas 0 to 8 (growth factors 2 down to 1.0027), and non-negative
 * observations: as in the window sketch (src/stats/sketch.ts), a negative value counts in the
 * zero bucket. Values above 2^24 (194 days, if seconds) count in the bucket of 2^24.
 */

export interface NativeHistogramOptions {
  /** 0 to 8: each power of two is divided into 2^schema buckets. */
  schema: number;
  /** Observations at or below this count in the zero bucket; > 0. */
  zeroThreshold: number;
}

/** The buckets of a native histogram, for tests and readers; the exposition writes them without this. */
export interface NativeHistogramSnapshot {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  /** Runs of buckets: the first offset is the index of its first bucket, the next ones the gap from the previous run. */
  spans: Array<{ offset: number; length: number }>;
  /** The count of every bucket of the spans, in order (not deltas). */
  counts: number[];
}

const MAX_EXPONENT = 24;
const MIN_NORMAL = 2 ** -1022;

/** One double and its two 32-bit halves, to read a value's exponent and mantissa without allocating. */
const BITS_F64 = new Float64Array(1);
const BITS_U32 = new Uint32Array(BITS_F64.buffer);
/** The half holding sign, exponent and the top of the mantissa. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** A schema's bucket layout, shared by every series of a family. */
export class NativeLayout {
  readonly schema: number;
  readonly zeroThreshold: number;
  /** `2^(j/2^schema - 1)` for j = 0 .. 2^schema - 1: the bucket bounds within [0.5, 1). */
  private readonly fractions: Float64Array;
  /** The index of the highest bucket, the one of 2^MAX_EXPONENT. */
  readonly maxIndex: number;
  /** The index of the lowest bucket a value above the zero threshold can fall in. */
  readonly minIndex: number;

  constructor(opts: NativeHistogramOptions) {
    const { schema, zeroThreshold } = opts;
    if (!Number.isInteger(schema) || schema < 0 || schema > 8) {
      throw new Error(`native histogram schema must be an integer from 0 to 8, got ${schema}`);
    }
    if (!(zeroThreshold > 0) || !Number.isFinite(zeroThreshold)) {
      throw new Error(`native histogram zero threshold must be a positive number, got ${zeroThreshold}`);
    }
    this.schema = schema;
    this.zeroThreshold = zeroThreshold;
    const n = 2 ** schema;
    this.fractions = new Float64Array(n);
    for (let j = 0; j < n; j++) this.fractions[j] = boundFraction(j, n);
    this.maxIndex = MAX_EXPONENT * n;
    this.minIndex = Math.min(this.index(zeroThreshold), this.maxIndex);
  }

  /**
   * The bucket of `v` > 0, as Prometheus' Go client computes it: from the binary exponent and
   * fraction of `v` (`v = frac * 2^exp`, frac in [0.5, 1)), the first bound at or above frac, so
   * a power of two is the upper bound of its bucket exactly.
   */
  index(v: number): number {
    if (v >= 2 ** MAX_EXPONENT) return this.maxIndex;
    let exp: number;
    let frac: number;
    if (v >= MIN_NORMAL) {
      // frexp from the bits: the biased exponent, and the mantissa under the exponent of 0.5.
      BITS_F64[0] = v;
      const hi = BITS_U32[HI]!;
      exp = ((hi >>> 20) & 0x7ff) - 1022;
      BITS_U32[HI] = (hi & 0x800fffff) | (1022 << 20);
      frac = BITS_F64[0]!;
    } else {
      // Subnormals (below 2^-1022), where the bits hold no implicit 1: exact in doubles.
      exp = Math.floor(Math.log2(v)) + 1;
      frac = v / 2 ** exp;
      if (frac < 0.5) {
        frac *= 2;
        exp--;
      } else if (frac >= 1) {
        frac /= 2;
        exp++;
      }
    }
    const fr = this.fractions;
    let lo = 0;
    let hi = fr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fr[mid]! < frac) lo = mid + 1;
      else hi = mid;
    }
    // lo === fr.length: frac above the last bound, the first bucket of the next power of two.
    return lo + (exp - 1) * fr.length;
  }

  /** The upper bound of bucket `i`, as Prometheus computes it: a bound of [0.5, 1) times a power of two. */
  upperBound(i: number): number {
    const n = this.fractions.length;
    const j = ((i % n) + n) % n;
    return this.fractions[j]! * 2 ** ((i - j) / n + 1);
  }
}

/**
 * `2^(j/n - 1)` rounded to the nearest double, which `**` does not promise (V8's is off by one
 * unit in the last place for some j). Prometheus' Go client has a table of its own, which differs
 * from these in the last binary digit for some bounds: only a value within 1e-16 (relative) of
 * such a bound can land in the bucket next to the one the Go client would pick. Checked exactly in integers: with `c = C / 2^53`, the true value lies
 * between `c`'s two rounding midpoints `(2C ± 1) / 2^54` exactly when their n-th powers bracket
 * `2^(j - n)`.
 */
function boundFraction(j: number, n: number): number {
  if (j === 0) return 0.5;
  let c = BigInt(Math.round(2 ** (j / n - 1) * 2 ** 53));
  const N = BigInt(n);
  const target = 1n << (54n * N + BigInt(j) - N);
  for (;;) {
    if ((2n * c + 1n) ** N < target) c++;
    else if ((2n * c - 1n) ** N > target) c--;
    else return Number(c) / 2 ** 53;
  }
}

/** The cumulative native buckets of one series: a dense window of counts over the indexes seen. */
export class NativeBuckets {
  zeroCount = 0;
  /** Observations and their sum since these buckets started, which may be after the classic ones. */
  count = 0;
  sum = 0;
  /** Counts of buckets `first` .. `first + counts.length - 1`; grows (rarely) to take a new index. */
  counts: Float64Array = EMPTY;
  first = 0;

  constructor(readonly layout: NativeLayout) {}

  observe(v: number): void {
    const layout = this.layout;
    this.count++;
    this.sum += v;
    if (!(v > layout.zeroThreshold)) {
      this.zeroCount++;
      return;
    }
    const i = layout.index(v);
    const slot = i - this.first;
    if (slot >= 0 && slot < this.counts.length) this.counts[slot]!++;
    else this.grow(i);
  }

  /** Makes room for index `i` and counts it: doubles the window, so growth is rare and amortised. */
  private grow(i: number): void {
    const layout = this.layout;
    const old = this.counts;
    let lo: number;
    let hi: number;
    if (old.length === 0) {
      lo = i - 8;
      hi = i + 8;
    } else {
      const size = old.length;
      lo = Math.min(this.first, i - (i < this.first ? size : 0));
      hi = Math.max(this.first + size, i + 1 + (i >= this.first + size ? size : 0));
    }
    lo = Math.max(lo, layout.minIndex);
    hi = Math.min(hi, layout.maxIndex + 1);
    const next = new Float64Array(hi - lo);
    if (old.length > 0) next.set(old, this.first - lo);
    this.counts = next;
    this.first = lo;
    next[i - lo]!++;
  }

  snapshot(): NativeHistogramSnapshot {
    const spans: Array<{ offset: number; length: number }> = [];
    const counts: number[] = [];
    forEachSpan(this, (offset, length, from) => {
      spans.push({ offset, length });
      for (let k = 0; k < length; k++) counts.push(this.counts[from + k]!);
    });
    return {
      schema: this.layout.schema,
      zeroThreshold: this.layout.zeroThreshold,
      zeroCount: this.zeroCount,
      spans,
      counts,
    };
  }
}

const EMPTY = new Float64Array(0);

/**
 * The largest run of empty buckets kept inside a span as zero counts: a new span costs more
 * bytes than two zero deltas (the rule of Prometheus' Go client).
 */
export const MAX_GAP_IN_SPAN = 2;

/**
 * Calls `fn(offset, length, from)` for each span of the non-empty buckets, in order: `offset` as
 * the protobuf exposition writes it (the first span's is its first bucket index, the next ones'
 * the number of buckets since the end of the previous span), `from` the first slot in `counts`.
 * Runs of up to `MAX_GAP_IN_SPAN` empty buckets stay inside a span.
 */
export function forEachSpan(
  b: NativeBuckets,
  fn: (offset: number, length: number, from: number) => void,
): void {
  const counts = b.counts;
  const n = counts.length;
  let start = -1;
  let last = -1;
  let prevEnd = 0;
  for (let j = 0; j < n; j++) {
    if (counts[j] === 0) continue;
    if (start < 0) {
      start = j;
    } else if (j - last - 1 > MAX_GAP_IN_SPAN) {
      const index = b.first + start;
      fn(index - prevEnd, last - start + 1, start);
      prevEnd = b.first + last + 1;
      start = j;
    }
    last = j;
  }
  if (start >= 0) fn(b.first + start - prevEnd, last - start + 1, start);
}
