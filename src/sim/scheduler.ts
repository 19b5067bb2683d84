import { EventHeap } from './heap.js';

export type EventHandler = (time: number, dev: number, code: number) => void;

/**
 * Runs planned events at their time with a single timer: when it fires, every event that is due
 * runs in one batch, in time order. A batch gives the event loop back after `maxBatchMs` so that the
 * socket keeps draining while the simulator is busy.
 */
export class Scheduler {
  readonly heap = new EventHeap();
  /** Clock reading of the batch being run, refreshed every 256 events: when its messages left. */
  now = 0;
  /** Largest delay between an event's planned time and its run since the last `takeLag`. */
  private maxLagMs = 0;
  /** Largest such delay over the whole run. */
  worstLagMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private inBatch = false;
  private stopped = true;
  /** Set by a handler to end `runVirtual` early. */
  virtualHalt = false;

  constructor(
    private readonly clock: () => number,
    private readonly handler: EventHandler,
    private readonly maxBatchMs = 25,
  ) {}

  at(time: number, dev: number, code: number): void {
    this.heap.push(time, dev, code);
    if (!this.inBatch && !this.stopped && time < this.armedAt) this.arm();
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  takeLag(): number {
    const lag = this.maxLagMs;
    this.maxLagMs = 0;
    return lag;
  }

  /** Runs every event planned up to `until` at its own time, with no timer: for tests. */
  runVirtual(until: number): void {
    this.inBatch = true;
    try {
      while (!this.virtualHalt && this.heap.size > 0 && this.heap.peekTime() <= until) {
        this.heap.pop();
        this.now = this.heap.time;
        this.handler(this.heap.time, this.heap.dev, this.heap.code);
      }
    } finally {
      this.inBatch = false;
    }
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    this.disarm();
    const next = this.heap.peekTime();
    if (next === Number.POSITIVE_INFINITY) return;
    this.armedAt = next;
    const delay = next - this.clock();
    if (delay <= 0) this.immediate = setImmediate(this.run);
    else this.timer = setTimeout(this.run, Math.ceil(delay));
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    this.inBatch = true;
    const started = this.clock();
    let now = started;
    this.now = now;
    let count = 0;
    const heap = this.heap;
    try {
      while (!this.stopped && heap.peekTime() <= now) {
        heap.pop();
        const lag = now - heap.time;
        if (lag > this.maxLagMs) {
          this.maxLagMs = lag;
          if (lag > this.worstLagMs) this.worstLagMs = lag;
        }
        this.handler(heap.time, heap.dev, heap.code);
        if ((++count & 255) === 0) {
          now = this.clock();
          this.now = now;
          if (now - started > this.maxBatchMs) break;
        }
      }
    } finally {
      this.inBatch = false;
    }
    if (!this.stopped) this.arm();
  };
}
