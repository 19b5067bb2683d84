/**
 * A reference model of docs/correlation.md, written from that page alone and kept as plain as
 * possible: no pools, queues or indexes, every rule spelled out where the page states it. The
 * correlator's property test holds the correlator's verdicts to this model's.
 */

export type ModelReplyKind = 'quote' | 'error' | 'non_quote';

export interface ModelReply {
  device: string;
  kind: ModelReplyKind;
  /** `type` of the reply as counted: UPDATE, NEW, PAGE, STOCK_ERROR, NO_CONFIG, OTHER, ... */
  type: string;
  symbol: string | undefined;
  isNew: boolean;
  isPage: boolean;
}

interface Req {
  t: number;
  /** The symbol the request named; undefined for a symbol-less request. */
  symbol: string | undefined;
  /** The symbol it is counted under, once known. */
  charged: string | undefined;
}

interface Dev {
  pending: Req[];
  timedOut: Req[];
  shown: string | undefined;
  bootAt: number | undefined;
}

export class CorrelationModel {
  /** `verdict:symbol[:type]` (or `unmatched:type`, `boot_reply`) to count. */
  readonly counts = new Map<string, number>();
  private readonly devices = new Map<string, Dev>();

  constructor(
    private readonly timeoutMs: number,
    private readonly lateWindowMs: number,
  ) {}

  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private dev(id: string): Dev {
    let d = this.devices.get(id);
    if (d === undefined) {
      d = { pending: [], timedOut: [], shown: undefined, bootAt: undefined };
      this.devices.set(id, d);
    }
    return d;
  }

  request(device: string, symbol: string | undefined, t: number): void {
    const d = this.dev(device);
    if (symbol !== undefined) this.add(`request:${symbol}`);
    d.pending.push({ t, symbol, charged: symbol });
  }

  boot(device: string, t: number): void {
    const d = this.dev(device);
    if (d.bootAt === undefined) d.bootAt = t;
  }

  /** "Timed out: D's shown symbol at the moment it times out, else unknown." */
  private timeOut(d: Dev, r: Req): void {
    if (r.charged === undefined) {
      r.charged = d.shown ?? 'unknown';
      this.add(`request:${r.charged}`);
    }
    this.add(`timeout:${r.charged}`);
    d.timedOut.push(r);
  }

  /** Rule 1, and the periodic sweep: every request of age >= T times out, oldest first. */
  private expire(d: Dev, now: number): void {
    const due = d.pending.filter((r) => now - r.t >= this.timeoutMs);
    d.pending = d.pending.filter((r) => now - r.t < this.timeoutMs);
    for (const r of due) this.timeOut(d, r);
  }

  sweep(now: number): void {
    for (const d of this.devices.values()) {
      this.expire(d, now);
      d.timedOut = d.timedOut.filter((r) => now - r.t < this.timeoutMs + this.lateWindowMs);
    }
  }

  /** Rule 2's preferences: the oldest request of the first kind that has one. */
  private pick(list: Req[], reply: ModelReply): Req | undefined {
    const oldest = (f: (r: Req) => boolean) => list.find(f);
    const forSymbol = (r: Req) => r.symbol !== undefined && r.symbol === reply.symbol;
    const symbolless = (r: Req) => r.symbol === undefined;
    const any = () => true;
    let order: ((r: Req) => boolean)[];
    if (reply.isPage) order = [symbolless, any];
    else if (reply.kind === 'quote') order = reply.isNew ? [symbolless, forSymbol] : [forSymbol, symbolless];
    else if (reply.symbol !== undefined) order = [forSymbol, symbolless, any];
    else order = [any];
    for (const f of order) {
      const r = oldest(f);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /** The symbol a quote reply names: `_page` for page mode. */
  private quoteSymbol(reply: ModelReply): string {
    return reply.isPage ? '_page' : reply.symbol!;
  }

  reply(reply: ModelReply, now: number): void {
    const d = this.devices.get(reply.device);
    if (d === undefined) {
      this.add(`unmatched:${reply.type}`);
      return;
    }
    this.expire(d, now);
    const hadBoot = d.bootAt !== undefined;
    // "Any first reply after a boot, paired or not, ends the boot and is observed there."
    if (hadBoot) this.add('boot_to_config');
    d.bootAt = undefined;

    const inTime = this.pick(d.pending, reply);
    if (inTime !== undefined) {
      d.pending.splice(d.pending.indexOf(inTime), 1);
      if (inTime.charged === undefined) {
        if (reply.kind === 'quote') {
          inTime.charged = this.quoteSymbol(reply);
          d.shown = inTime.charged;
        } else {
          inTime.charged = reply.symbol ?? d.shown ?? 'unknown';
        }
        this.add(`request:${inTime.charged}`);
      }
      if (reply.kind === 'quote') this.add(`response:${inTime.charged}`);
      else if (reply.kind === 'error') this.add(`error:${inTime.charged}:${reply.type}`);
      else this.add(`non_quote:${inTime.charged}:${reply.type}`);
      return;
    }

    const stillRemembered = d.timedOut.filter((r) => now - r.t < this.timeoutMs + this.lateWindowMs);
    const late = this.pick(stillRemembered, reply);
    if (late !== undefined) {
      d.timedOut.splice(d.timedOut.indexOf(late), 1);
      this.add(`late:${late.charged}`);
      if (late.symbol === undefined && reply.kind === 'quote') d.shown = this.quoteSymbol(reply);
      return;
    }

    if (hadBoot) {
      if (reply.kind === 'quote') d.shown = this.quoteSymbol(reply);
      return;
    }
    this.add(`unmatched:${reply.type}`);
  }

  /** The broker connection dropped: what is pending is interrupted, charged like a timeout. */
  interruptAll(): void {
    for (const d of this.devices.values()) {
      for (const r of d.pending) {
        if (r.charged === undefined) {
          r.charged = d.shown ?? 'unknown';
          this.add(`request:${r.charged}`);
        }
        this.add(`interrupted:${r.charged}`);
      }
      d.pending = [];
      d.bootAt = undefined;
    }
  }

  /** Requests still pending, by the symbol they are counted under (undefined: not yet known). */
  pendingCount(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.pending.length;
    return n;
  }
}
