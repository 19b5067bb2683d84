/**
 * A ring buffer used as a FIFO, growing and shrinking with its contents. Requests enter in arrival
 * order and time out in the same order (the timeout is one constant), so the head is always the next
 * deadline: the sweep looks at the head only, with no timer per request. It shrinks because a burst
 * (a fleet reconnecting at once) must not pin its peak in memory for the life of the process.
 */
export class Fifo<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(private readonly minCapacity = 1024) {
    this.items = new Array(minCapacity);
  }

  get size(): number {
    return this.count;
  }

  /** Slots held, for tests of the memory bound. */
  get capacity(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    // A quarter, not a half: a size hovering at a power of two must not resize at every step.
    if (this.items.length > this.minCapacity && this.count < this.items.length >>> 2) {
      this.resize(this.items.length >>> 1);
    }
    return item;
  }

  clear(): void {
    this.items = new Array(this.minCapacity);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    this.resize(this.items.length * 2);
  }

  private resize(capacity: number): void {
    const next = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
