import { BUCKET_COUNT, bucketIndex, bucketValue, quantileRank } from './sketch.js';
import { decode, encode } from './state-codec.js';

export interface WindowConfig {
  /** Length of the window, default 5 min. */
  windowMs: number;
  /** Number of sub-windows it is cut into, default 10; the window slides by `windowMs / slots`. */
  slots: number;
}

export const DEFAULT_WINDOW_CONFIG: Readonly<WindowConfig> = Object.freeze({ windowMs: 300_000, slots: 10 });

export interface WindowSnapshot {
  /** responses + errors + timeouts + non-quote answers (`late` is not a request of its own). */
  requests: number;
  responses: number;
  errors: number;
  timeouts: number;
  late: number;
  /** responses / requests, NaN with no requests. */
  responseRate: number;
  /** Exact mean of the recorded latencies, NaN with no responses. */
  avgLatencySeconds: number;
  /** Within 1 % (relative) of the exact order statistic, see `quantileFromCounts`; NaN with no responses. */
  p95LatencySeconds: number;
  p99LatencySeconds: number;
}

export function emptySnapshot(): WindowSnapshot {
  return {
    requests: 0,
    responses: 0,
    errors: 0,
    timeouts: 0,
    late: 0,
    responseRate: Number.NaN,
    avgLatencySeconds: Number.NaN,
    p95LatencySeconds: Number.NaN,
    p99LatencySeconds: Number.NaN,
  };
}

// Per-slot counters, laid out slot after slot in one Float64Array.
const RESPONSES = 0;
const ERRORS = 1;
const TIMEOUTS = 2;
const NON_QUOTE = 3;
const LATE = 4;
const LATENCY_SUM = 5;
const FIELDS = 6;

/**
 * Raw samples a slot keeps before the rest of that slot goes into a per-slot histogram. 1,024 samples
 * (2 KiB) is about what a histogram costs (BUCKET_COUNT x 4 bytes), so past it a histogram is the
 * cheaper way to remember what must be subtracted when the slot expires, and memory per key stays
 * bounded whatever the message rate.
 */
export const SLOT_RAW_LIMIT = 1024;
/**
 * Window samples above which the key keeps a window-total histogram up to date, so that a snapshot
 * costs O(BUCKET_COUNT) instead of O(samples). Below it a snapshot counts the raw samples into a shared
 * scratch histogram, which costs no more than scanning a dense one would, and the key saves 2.5 KB.
 */
export const DENSE_ABOVE = 1024;
/** The window total is dropped again below this many samples (hysteresis against re-building it). */
export const DENSE_BELOW = 256;
const RING_MIN = 16;

// V8 object and typed-array header sizes on 64-bit Node 20, measured with `measure.bench.ts`.
const OBJECT_BYTES = 136;
const TYPED_ARRAY_BYTES = 192;

/** Up to this many samples a snapshot sorts them instead of counting them into a histogram. */
const SORT_AT_MOST = 32;
const scratch = new Uint32Array(BUCKET_COUNT);
const sorted = new Uint16Array(SORT_AT_MOST);

/**
 * p95 and p99 of a histogram whose non-zero buckets lie in `low..high`, in one pass from the top:
 * the bucket of rank `r` is the highest one whose count from the top reaches `total - r`, and for
 * tail quantiles that is a few buckets down rather than most of the range up.
 */
function upperQuantiles(counts: Uint32Array, total: number, low: number, high: number, out: WindowSnapshot) {
  const need99 = total - quantileRank(total, 0.99);
  const need95 = total - quantileRank(total, 0.95);
  let i = high + 1;
  let fromTop = 0;
  do {
    i--;
    fromTop += counts[i];
  } while (fromTop < need99 && i > low);
  out.p99LatencySeconds = bucketValue(i);
  while (fromTop < need95 && i > low) {
    i--;
    fromTop += counts[i];
  }
  out.p95LatencySeconds = bucketValue(i);
}

/** A window's content in a state snapshot: its typed arrays as base64. */
export interface WindowState {
  epoch: number;
  counters: string;
  /** Latency bucket indices of the raw samples, oldest first. */
  ring: string;
  overflow: (string | null)[] | null;
}

/**
 * Sliding window of quote outcomes for one key (a symbol or a stream).
 *
 * The window is `slots` sub-windows of `slotMs = windowMs / slots`; slot epoch is
 * `floor(nowMs / slotMs)`, and the window at `nowMs` holds the current slot and the `slots - 1` before
 * it, so between `windowMs - slotMs` and `windowMs` of history. Rotation is lazy: every call first
 * clears the slots that fell out since the key was last touched, so an untouched key costs no CPU.
 *
 * Time must not go backwards for one key; an outcome stamped before the key's latest slot is charged
 * to that latest slot.
 *
 * Memory (see README.md): an idle key keeps only this object, its arrays are dropped as soon as the
 * window is empty. A busy key holds its per-slot counters, its latency samples as 2-byte bucket
 * indices in one ring buffer (samples leave in the order they came, oldest slot first), past
 * `DENSE_ABOVE` samples a window-total histogram, and past `SLOT_RAW_LIMIT` samples in one slot a
 * histogram for that slot. Recording allocates only when the ring doubles or a histogram is first needed.
 */
export class OutcomeWindow {
  private readonly slotMs: number;
  private readonly slots: number;
  /** Epoch of the newest slot; -1 before the first touch. */
  private epoch = -1;
  private counters: Float64Array | null = null;
  /** Outcomes (including late) currently in the window; 0 means the arrays can go. */
  private events = 0;
  /** Responses currently in the window, i.e. latency samples. */
  private samples = 0;
  private ring: Uint16Array | null = null;
  private ringHead = 0;
  private ringLength = 0;
  private dense: Uint32Array | null = null;
  /** Every non-zero bucket of `dense` lies in `denseLow..denseHigh` (the range may be wider). */
  private denseLow = 0;
  private denseHigh = 0;
  private overflow: (Uint32Array | null)[] | null = null;

  constructor(cfg: WindowConfig) {
    if (!(cfg.slots >= 1) || !Number.isInteger(cfg.slots))
      throw new RangeError('slots must be an integer >= 1');
    if (!(cfg.windowMs >= cfg.slots)) throw new RangeError('windowMs must be at least one ms per slot');
    this.slots = cfg.slots;
    this.slotMs = cfg.windowMs / cfg.slots;
  }

  /** A quote answered in time, with its latency in seconds (non-finite or negative counts as 0). */
  response(nowMs: number, latencySeconds: number): void {
    if (!(latencySeconds >= 0 && latencySeconds < Number.POSITIVE_INFINITY)) latencySeconds = 0;
    const slot = this.advance(nowMs);
    const c = this.counters ?? this.allocate();
    const base = slot * FIELDS;
    const inSlot = c[base + RESPONSES];
    c[base + RESPONSES] = inSlot + 1;
    c[base + LATENCY_SUM] += latencySeconds;
    this.events++;
    this.samples++;
    const index = bucketIndex(latencySeconds);
    if (inSlot < SLOT_RAW_LIMIT) this.push(index);
    else this.slotHistogram(slot)[index]++;
    const dense = this.dense;
    if (dense !== null) {
      dense[index]++;
      if (index < this.denseLow) this.denseLow = index;
      if (index > this.denseHigh) this.denseHigh = index;
    } else if (this.samples > DENSE_ABOVE) {
      this.buildDense();
    }
  }

  /** An error reply in time. */
  error(nowMs: number): void {
    this.count(nowMs, ERRORS);
  }

  /** No reply within the timeout. */
  timeout(nowMs: number): void {
    this.count(nowMs, TIMEOUTS);
  }

  /** A reply to a request already counted as a timeout; not a request of its own. */
  late(nowMs: number): void {
    this.count(nowMs, LATE);
  }

  /** Answered, but not with a quote (NO_CONFIG, ...); counts as a request only. */
  nonQuote(nowMs: number): void {
    this.count(nowMs, NON_QUOTE);
  }

  /** Fills `out` with the window as of `nowMs` and returns it; allocates nothing. */
  snapshot(nowMs: number, out: WindowSnapshot): WindowSnapshot {
    this.advance(nowMs);
    let responses = 0;
    let errors = 0;
    let timeouts = 0;
    let nonQuote = 0;
    let late = 0;
    let latencySum = 0;
    const c = this.counters;
    if (c !== null) {
      for (let base = 0; base < c.length; base += FIELDS) {
        responses += c[base + RESPONSES];
        errors += c[base + ERRORS];
        timeouts += c[base + TIMEOUTS];
        nonQuote += c[base + NON_QUOTE];
        late += c[base + LATE];
        latencySum += c[base + LATENCY_SUM];
      }
    }
    const requests = responses + errors + timeouts + nonQuote;
    out.requests = requests;
    out.responses = responses;
    out.errors = errors;
    out.timeouts = timeouts;
    out.late = late;
    out.responseRate = requests > 0 ? responses / requests : Number.NaN;
    if (responses === 0) {
      out.avgLatencySeconds = Number.NaN;
      out.p95LatencySeconds = Number.NaN;
      out.p99LatencySeconds = Number.NaN;
      return out;
    }
    out.avgLatencySeconds = latencySum / responses;
    const dense = this.dense;
    if (dense !== null) {
      upperQuantiles(dense, responses, this.denseLow, this.denseHigh, out);
      return out;
    }
    // Without a window total there is no slot histogram either (DENSE_BELOW < SLOT_RAW_LIMIT), so the
    // ring holds every sample.
    const ring = this.ring!;
    const mask = ring.length - 1;
    if (responses <= SORT_AT_MOST) {
      // Most keys of a large fleet see a handful of quotes per window: sorting them is cheaper than
      // scanning and clearing a histogram range.
      for (let k = 0, at = this.ringHead; k < responses; k++, at = (at + 1) & mask) {
        const index = ring[at];
        let j = k;
        for (; j > 0 && sorted[j - 1] > index; j--) sorted[j] = sorted[j - 1];
        sorted[j] = index;
      }
      out.p95LatencySeconds = bucketValue(sorted[quantileRank(responses, 0.95)]);
      out.p99LatencySeconds = bucketValue(sorted[quantileRank(responses, 0.99)]);
      return out;
    }
    let low = BUCKET_COUNT;
    let high = 0;
    for (let k = 0, at = this.ringHead; k < responses; k++, at = (at + 1) & mask) {
      const index = ring[at];
      scratch[index]++;
      if (index < low) low = index;
      if (index > high) high = index;
    }
    upperQuantiles(scratch, responses, low, high, out);
    scratch.fill(0, low, high + 1);
    return out;
  }

  /** True when nothing is left in the window at `nowMs`; an empty key holds no arrays. */
  isEmpty(nowMs: number): boolean {
    this.advance(nowMs);
    return this.events === 0;
  }

  /**
   * What the window holds, for a state snapshot; null when it holds nothing. Epochs stay in the
   * exporter's monotonic frame, which a restored exporter continues (see src/state), so the state
   * needs no conversion.
   */
  saveState(): WindowState | null {
    if (this.counters === null || this.events === 0) return null;
    const ring = new Uint16Array(this.ringLength);
    if (this.ring !== null) {
      const mask = this.ring.length - 1;
      for (let k = 0, at = this.ringHead; k < this.ringLength; k++, at = (at + 1) & mask)
        ring[k] = this.ring[at]!;
    }
    return {
      epoch: this.epoch,
      counters: encode(this.counters),
      ring: encode(ring),
      overflow: this.overflow?.map((h) => (h === null ? null : encode(h))) ?? null,
    };
  }

  /** Takes back what `saveState` gave, into an empty window of the same configuration. */
  loadState(state: WindowState): void {
    const counters = new Float64Array(decode(state.counters, 8));
    if (counters.length !== this.slots * FIELDS) throw new RangeError('window state of another slot count');
    const ring = new Uint16Array(decode(state.ring, 2));
    this.release();
    this.epoch = state.epoch;
    this.counters = counters;
    for (let base = 0; base < counters.length; base += FIELDS) {
      this.events +=
        counters[base + RESPONSES] +
        counters[base + ERRORS] +
        counters[base + TIMEOUTS] +
        counters[base + NON_QUOTE] +
        counters[base + LATE];
      this.samples += counters[base + RESPONSES];
    }
    for (const index of ring) {
      if (index >= BUCKET_COUNT) throw new RangeError(`latency bucket ${index} out of range`);
      this.push(index);
    }
    if (state.overflow !== null) {
      if (state.overflow.length !== this.slots) throw new RangeError('window state of another slot count');
      this.overflow = state.overflow.map((h) => (h === null ? null : new Uint32Array(decode(h, 4))));
    }
    if (this.samples > DENSE_ABOVE) this.buildDense();
  }

  /** Estimated heap bytes held by this key, including V8 object headers. */
  approxBytes(): number {
    let bytes = OBJECT_BYTES;
    if (this.counters !== null) bytes += TYPED_ARRAY_BYTES + this.counters.byteLength;
    if (this.ring !== null) bytes += TYPED_ARRAY_BYTES + this.ring.byteLength;
    if (this.dense !== null) bytes += TYPED_ARRAY_BYTES + this.dense.byteLength;
    if (this.overflow !== null) {
      bytes += 16 + 8 * this.overflow.length;
      for (const h of this.overflow) if (h !== null) bytes += TYPED_ARRAY_BYTES + h.byteLength;
    }
    return bytes;
  }

  private count(nowMs: number, field: number): void {
    const slot = this.advance(nowMs);
    const c = this.counters ?? this.allocate();
    c[slot * FIELDS + field]++;
    this.events++;
  }

  /** Moves the window to `nowMs` and returns the slot to record into. */
  private advance(nowMs: number): number {
    const epoch = Math.floor(nowMs / this.slotMs);
    if (epoch <= this.epoch) return this.epoch % this.slots;
    if (this.counters !== null) {
      if (epoch - this.epoch >= this.slots) {
        this.release();
      } else {
        for (let e = this.epoch + 1; e <= epoch; e++) this.clearSlot(e % this.slots);
        if (this.events === 0) this.release();
        else this.trim();
      }
    }
    this.epoch = epoch;
    return epoch % this.slots;
  }

  /** Removes the oldest slot: its samples are the oldest ones, at the head of the ring. */
  private clearSlot(slot: number): void {
    const c = this.counters!;
    const base = slot * FIELDS;
    const responses = c[base + RESPONSES];
    this.events -= responses + c[base + ERRORS] + c[base + TIMEOUTS] + c[base + NON_QUOTE] + c[base + LATE];
    c.fill(0, base, base + FIELDS);
    if (responses === 0) return;
    this.samples -= responses;
    const raw = Math.min(responses, SLOT_RAW_LIMIT);
    const ring = this.ring!;
    const mask = ring.length - 1;
    const dense = this.dense;
    if (dense !== null) {
      for (let k = 0, at = this.ringHead; k < raw; k++, at = (at + 1) & mask) dense[ring[at]]--;
    }
    this.ringHead = (this.ringHead + raw) & mask;
    this.ringLength -= raw;
    const histogram = this.overflow?.[slot] ?? null;
    if (histogram !== null) {
      if (dense !== null) for (let i = 0; i < BUCKET_COUNT; i++) dense[i] -= histogram[i];
      this.overflow![slot] = null;
    }
  }

  /** Gives memory back after a burst: drops the window total and halves an under-used ring. */
  private trim(): void {
    if (this.dense !== null && this.samples < DENSE_BELOW) this.dense = null;
    const ring = this.ring;
    if (ring === null) return;
    if (this.ringLength === 0) {
      this.ring = null;
      this.ringHead = 0;
      return;
    }
    if (ring.length > RING_MIN && this.ringLength <= ring.length >> 2) this.resize(ring.length >> 1);
  }

  private release(): void {
    this.counters = null;
    this.ring = null;
    this.dense = null;
    this.overflow = null;
    this.events = 0;
    this.samples = 0;
    this.ringHead = 0;
    this.ringLength = 0;
  }

  private allocate(): Float64Array {
    const c = new Float64Array(this.slots * FIELDS);
    this.counters = c;
    return c;
  }

  private push(index: number): void {
    let ring = this.ring;
    if (ring === null) {
      ring = new Uint16Array(RING_MIN);
      this.ring = ring;
    } else if (this.ringLength === ring.length) {
      ring = this.resize(ring.length << 1);
    }
    ring[(this.ringHead + this.ringLength) & (ring.length - 1)] = index;
    this.ringLength++;
  }

  /** Copies the ring, unwrapped, into a new power-of-two buffer. */
  private resize(capacity: number): Uint16Array {
    const old = this.ring!;
    const next = new Uint16Array(capacity);
    const head = this.ringHead;
    const first = Math.min(this.ringLength, old.length - head);
    next.set(old.subarray(head, head + first), 0);
    if (first < this.ringLength) next.set(old.subarray(0, this.ringLength - first), first);
    this.ring = next;
    this.ringHead = 0;
    return next;
  }

  private slotHistogram(slot: number): Uint32Array {
    if (this.overflow === null) this.overflow = new Array<Uint32Array | null>(this.slots).fill(null);
    let h = this.overflow[slot] ?? null;
    if (h === null) {
      h = new Uint32Array(BUCKET_COUNT);
      this.overflow[slot] = h;
    }
    return h;
  }

  private buildDense(): void {
    const dense = new Uint32Array(BUCKET_COUNT);
    const ring = this.ring!;
    const mask = ring.length - 1;
    let low = BUCKET_COUNT;
    let high = 0;
    for (let k = 0, at = this.ringHead; k < this.ringLength; k++, at = (at + 1) & mask) {
      const index = ring[at];
      dense[index]++;
      if (index < low) low = index;
      if (index > high) high = index;
    }
    if (this.overflow !== null) {
      for (const h of this.overflow) {
        if (h === null) continue;
        for (let i = 0; i < BUCKET_COUNT; i++) dense[i] += h[i];
        low = 0;
        high = BUCKET_COUNT - 1;
      }
    }
    this.dense = dense;
    this.denseLow = low;
    this.denseHigh = high;
  }
}
