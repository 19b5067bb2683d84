/**
 * A binary min-heap of events, ordered by time and then by insertion order (so that two events
 * planned for the same millisecond run in the order they were planned, which keeps a request ahead
 * of its reply). Events are three numbers kept in typed arrays: a fleet of 100,000 devices keeps
 * hundreds of thousands of events pending, and objects per event would churn the garbage collector.
 */
export class EventHeap {
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private devs = new Int32Array(1024);
  private codes = new Int32Array(1024);
  private n = 0;
  private seq = 0;

  /** Fields of the event most recently returned by `pop`. */
  time = 0;
  dev = 0;
  code = 0;

  get size(): number {
    return this.n;
  }

  peekTime(): number {
    return this.n > 0 ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  push(time: number, dev: number, code: number): void {
    if (this.n === this.times.length) this.grow();
    let i = this.n++;
    const seq = this.seq++;
    // Sift up: move parents down until the new event's place is found.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = this.times[p]!;
      if (pt < time || (pt === time && this.seqs[p]! < seq)) break;
      this.move(p, i);
      i = p;
    }
    this.times[i] = time;
    this.seqs[i] = seq;
    this.devs[i] = dev;
    this.codes[i] = code;
  }

  /** Removes the earliest event into `time`, `dev` and `code`; false when empty. */
  pop(): boolean {
    if (this.n === 0) return false;
    this.time = this.times[0]!;
    this.dev = this.devs[0]!;
    this.code = this.codes[0]!;
    const last = --this.n;
    if (last === 0) return true;
    const t = this.times[last]!;
    const s = this.seqs[last]!;
    const d = this.devs[last]!;
    const c = this.codes[last]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      let m = l;
      if (r < last && this.before(r, l)) m = r;
      const mt = this.times[m]!;
      if (t < mt || (t === mt && s < this.seqs[m]!)) break;
      this.move(m, i);
      i = m;
    }
    this.times[i] = t;
    this.seqs[i] = s;
    this.devs[i] = d;
    this.codes[i] = c;
    return true;
  }

  clear(): void {
    this.n = 0;
  }

  private before(a: number, b: number): boolean {
    const ta = this.times[a]!;
    const tb = this.times[b]!;
    return ta < tb || (ta === tb && this.seqs[a]! < this.seqs[b]!);
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.seqs[to] = this.seqs[from]!;
    this.devs[to] = this.devs[from]!;
    this.codes[to] = this.codes[from]!;
  }

  private grow(): void {
    const size = this.times.length * 2;
    const times = new Float64Array(size);
    const seqs = new Float64Array(size);
    const devs = new Int32Array(size);
    const codes = new Int32Array(size);
    times.set(this.times);
    seqs.set(this.seqs);
    devs.set(this.devs);
    codes.set(this.codes);
    this.times = times;
    this.seqs = seqs;
    this.devs = devs;
    this.codes = codes;
  }
}
