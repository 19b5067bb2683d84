/** The latest request outcomes of every device, kept compactly for the JSON API. */

export type OutcomeKind = 'response' | 'error' | 'non_quote' | 'timeout' | 'late' | 'interrupted';

/** One of a device's latest request outcomes, for the JSON API (per-device detail lives there). */
export interface RecentOutcome {
  /** Monotonic ms when the request was sent. */
  requestedAt: number;
  symbol: string;
  outcome: OutcomeKind;
  /** Request to reply, NaN for a timeout or interruption. */
  latencySeconds: number;
  replyType: string;
}

const RECENT_PER_DEVICE = 10;
const OUTCOMES: readonly OutcomeKind[] = ['response', 'error', 'non_quote', 'timeout', 'late', 'interrupted'];
export const OUTCOME_CODES = new Map(OUTCOMES.map((o, i) => [o, i]));

/**
 * Every device's ring of latest outcomes, in typed arrays shared by all devices and indexed by a slot each
 * device holds: ten small objects per device, with two boxed numbers each, were half the memory a device
 * cost. Records are built, as copies, only when the API asks.
 */
export class RecentStore {
  private capacity = 0;
  private times = new Float64Array(0);
  /** Seconds; single precision keeps 7 digits, more than a latency shown in the API has. */
  private latencies = new Float32Array(0);
  private outcomes = new Uint8Array(0);
  private types = new Uint8Array(0);
  private symbols: (string | undefined)[] = [];
  /** Records held per slot, up to RECENT_PER_DEVICE; then `next` is the oldest, overwritten next. */
  private counts = new Uint8Array(0);
  private next = new Uint8Array(0);
  private used = 0;
  private readonly free: number[] = [];
  /** Reply types are the decoder's short fixed set (under 256); each is stored as its index here. */
  private readonly typeNames: string[] = [];
  private readonly typeCodes = new Map<string, number>();

  alloc(): number {
    const slot = this.free.pop() ?? this.used++;
    // Half again, not double: the slack is paid for every device the fleet will never have.
    if (slot >= this.capacity) this.grow(Math.max(64, Math.ceil(this.capacity * 1.5)));
    this.counts[slot] = 0;
    this.next[slot] = 0;
    return slot;
  }

  release(slot: number): void {
    this.symbols.fill(undefined, slot * RECENT_PER_DEVICE, (slot + 1) * RECENT_PER_DEVICE);
    this.counts[slot] = 0;
    this.free.push(slot);
  }

  record(
    slot: number,
    requestedAt: number,
    symbol: string,
    outcome: OutcomeKind,
    latencySeconds: number,
    replyType: string,
  ): void {
    const held = this.counts[slot]!;
    let i: number;
    if (held < RECENT_PER_DEVICE) {
      i = held;
      this.counts[slot] = held + 1;
    } else {
      i = this.next[slot]!;
      this.next[slot] = (i + 1) % RECENT_PER_DEVICE;
    }
    const at = slot * RECENT_PER_DEVICE + i;
    this.times[at] = requestedAt;
    this.latencies[at] = latencySeconds;
    this.outcomes[at] = OUTCOME_CODES.get(outcome)!;
    this.types[at] = this.typeCode(replyType);
    this.symbols[at] = symbol;
  }

  /** Oldest first. */
  list(slot: number): RecentOutcome[] {
    const held = this.counts[slot]!;
    const first = held < RECENT_PER_DEVICE ? 0 : this.next[slot]!;
    const out: RecentOutcome[] = [];
    for (let k = 0; k < held; k++) {
      const at = slot * RECENT_PER_DEVICE + ((first + k) % RECENT_PER_DEVICE);
      out.push({
        requestedAt: this.times[at]!,
        symbol: this.symbols[at]!,
        outcome: OUTCOMES[this.outcomes[at]!]!,
        // Back to the microsecond, so that 0.31 reads 0.31 and not single precision's 0.3100000023841858.
        latencySeconds: Math.round(this.latencies[at]! * 1e6) / 1e6,
        replyType: this.typeNames[this.types[at]!]!,
      });
    }
    return out;
  }

  private typeCode(name: string): number {
    let code = this.typeCodes.get(name);
    if (code === undefined) {
      code = this.typeNames.length;
      this.typeNames.push(name);
      this.typeCodes.set(name, code);
    }
    return code;
  }

  private grow(capacity: number): void {
    const n = capacity * RECENT_PER_DEVICE;
    const times = new Float64Array(n);
    times.set(this.times);
    this.times = times;
    const latencies = new Float32Array(n);
    latencies.set(this.latencies);
    this.latencies = latencies;
    const outcomes = new Uint8Array(n);
    outcomes.set(this.outcomes);
    this.outcomes = outcomes;
    const types = new Uint8Array(n);
    types.set(this.types);
    this.types = types;
    const counts = new Uint8Array(capacity);
    counts.set(this.counts);
    this.counts = counts;
    const next = new Uint8Array(capacity);
    next.set(this.next);
    this.next = next;
    this.capacity = capacity;
  }
}
