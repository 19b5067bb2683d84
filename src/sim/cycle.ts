import { E_HOP, E_REPLY, E_REQ, PLAYLIST_SPACING_MS, type SimContext } from './context.js';
import {
  K_DEVICE_REG,
  K_INVALID,
  K_NEW,
  K_NO_CONFIG,
  K_PAGE,
  K_PAGE_ERROR,
  K_STOCK_ERROR,
  K_UPDATE,
} from './backend.js';
import {
  type Device,
  type DeviceBehaviour,
  KIND_NOCONFIG,
  KIND_PAGE,
  KIND_PLAYLIST,
  KIND_SINGLE,
  KIND_UNREGISTERED,
} from './device.js';
import { ReplyType } from '../protocol/index.js';
import { PAGE_SYMBOL } from './truth.js';

/** Share of single-ticker and page replies the backend sends twice (the copy is unmatched). */
const DUPLICATE_SHARE = 0.002;

/**
 * Schedules each update cycle: when a device's requests leave, what the backend answers each with
 * and when, with every reply kept clear of the moments at which the exporter's verdict would flip.
 */
export class CyclePlanner {
  /** Replies moved out of a window around a verdict-flipping moment, for the log. */
  nudged = 0;
  /** Requests of the cycle being planned that the backend hands to an HTTP-polled service. */
  private readonly hops: number[] = [];
  private readonly draw: () => number;

  constructor(
    private readonly ctx: SimContext,
    private readonly devices: DeviceBehaviour,
  ) {
    this.draw = () => ctx.rng.float();
  }

  /**
   * Plans the requests of a cycle starting at `t0` and the backend's replies to them, and returns
   * the time from which the device may start another.
   */
  plan(d: Device, t0: number): number {
    const ctx = this.ctx;
    const rng = ctx.rng;
    const faults = ctx.o.faults;
    const T = ctx.T;
    const L = ctx.L;
    const m = ctx.m;

    // Requests: the symbol-less one, then one per playlist symbol.
    let n = 0;
    d.reqAt[n] = t0;
    d.reqSym[n] = null;
    if (d.kind === KIND_PLAYLIST) {
      d.current = d.currentIndex(t0);
      d.quoteSym[n] = d.syms[d.current]!;
    } else {
      d.quoteSym[n] = d.kind === KIND_SINGLE ? d.syms[0]! : null;
    }
    n++;
    if (d.kind === KIND_PLAYLIST) {
      for (let k = 0; k < d.syms.length; k++) {
        d.reqAt[n] = t0 + PLAYLIST_SPACING_MS * (k + 1) + rng.between(-15, 15);
        d.reqSym[n] = d.syms[k]!;
        d.quoteSym[n] = d.syms[k]!;
        n++;
      }
    }
    d.nReq = n;
    const lastReq = d.reqAt[n - 1]!;

    // Replies, as the backend decides them at each request's arrival.
    let nRep = 0;
    let answeredAll = true;
    const page = d.kind === KIND_PAGE;
    const unconfigured = d.kind === KIND_NOCONFIG || d.kind === KIND_UNREGISTERED;
    const hops = this.hops;
    hops.length = 0;
    for (let k = 0; k < n; k++) {
      const tk = d.reqAt[k]!;
      if (faults.inOutage(tk)) {
        answeredAll = false;
        continue;
      }
      const sym = d.quoteSym[k]!;
      let kind: number;
      let latency: number;
      if (unconfigured) {
        kind = d.kind === KIND_NOCONFIG ? K_NO_CONFIG : K_DEVICE_REG;
        latency = rng.lognormal(60, 0.3);
      } else {
        const dec = faults.decide(tk, sym ? sym.name : PAGE_SYMBOL, sym ? sym.stream : 'unmapped', this.draw);
        if (sym?.http) hops.push(k);
        const base = sym ? rng.lognormal(sym.medianMs, sym.sigma) : rng.lognormal(80, 0.3);
        if (dec.drop) {
          answeredAll = false;
          continue;
        }
        latency = dec.latencyMs !== undefined ? rng.lognormal(dec.latencyMs, 0.08) : base;
        if (dec.error !== undefined) {
          if (dec.error === ReplyType.InvalidFormat) kind = K_INVALID;
          else if (page) kind = ctx.ledger.shown(d.id) === PAGE_SYMBOL ? K_PAGE_ERROR : K_PAGE;
          else kind = K_STOCK_ERROR;
        } else if (page) {
          kind = K_PAGE;
        } else {
          kind = k === 0 && d.kind === KIND_PLAYLIST ? K_NEW : K_UPDATE;
        }
        if (dec.late && kind <= K_PAGE) {
          if (L <= 2 * m) {
            answeredAll = false;
            continue;
          }
          latency = rng.between(T + m, T + L - m);
        }
      }
      const r = tk + Math.max(1, latency);
      if (faults.inOutage(r)) {
        answeredAll = false;
        continue;
      }
      this.addReply(d, nRep++, r, k, kind);
    }

    // A cycle in which every request gets a quote for its own symbol (or its only request gets any
    // reply) at least a margin before its own timeout has nothing that can time out, and each reply
    // can only pair with its own request: no other moment matters. Any other cycle keeps its replies
    // clear of the timeout and late-window end of all its requests.
    let settled = answeredAll && nRep === n;
    for (let j = 0; settled && j < nRep; j++) {
      const kind = d.repKind[j]!;
      if (d.repAt[j]! - d.reqAt[d.repReq[j]!]! > T - m) settled = false;
      else if (n > 1 && kind !== K_UPDATE && kind !== K_NEW) settled = false;
    }
    if (!settled) {
      let kept = 0;
      for (let j = 0; j < nRep; j++) {
        const tk = d.reqAt[d.repReq[j]!]!;
        const r = this.nudge(d, n, tk, d.repAt[j]!);
        if (faults.inOutage(r)) continue;
        this.addReply(d, kept++, r, d.repReq[j]!, d.repKind[j]!);
      }
      nRep = kept;
    }
    if (n === 1 && nRep === 1 && d.repKind[0]! <= K_PAGE && rng.chance(DUPLICATE_SHARE)) {
      // The copy finds nothing open (its request was answered), whatever its timing.
      let r2 = d.repAt[0]! + rng.between(50, 500);
      if (!settled) r2 = this.nudge(d, n, d.reqAt[0]!, r2);
      if (!faults.inOutage(r2)) this.addReply(d, nRep++, r2, 0, d.repKind[0]!);
    }
    d.nRep = nRep;

    let lastRep = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < nRep; j++) lastRep = Math.max(lastRep, d.repAt[j]!);
    // Settled cycles leave nothing pending; others wait until the last request's late window has
    // closed, so that the next cycle starts with nothing pending or remembered at the exporter.
    const settle = settled ? Math.max(t0 + T + m, lastRep + m) : Math.max(lastReq + T + L + m, lastRep + m);
    ctx.quietUntil(settle);

    this.devices.sendRequest(d, 0);
    for (let k = 1; k < n; k++) ctx.scheduler.at(d.reqAt[k]!, d.idx, E_REQ | (k << 4));
    for (const k of hops) {
      // The hand-off precedes the answer, if any.
      const tk = d.reqAt[k]!;
      let at = tk + rng.between(5, 25);
      for (let j = 0; j < nRep; j++) {
        if (d.repReq[j] === k) at = Math.min(at, tk + (d.repAt[j]! - tk) / 2);
      }
      ctx.scheduler.at(at, d.idx, E_HOP | (k << 4));
    }
    for (let j = 0; j < nRep; j++) ctx.scheduler.at(d.repAt[j]!, d.idx, E_REPLY | (j << 4));
    return settle;
  }

  private addReply(d: Device, j: number, at: number, req: number, kind: number): void {
    d.repAt[j] = at;
    d.repReq[j] = req;
    d.repKind[j] = kind;
  }

  /**
   * Moves a reply time out of every window of ±margin around a moment at which one of the cycle's
   * requests times out or leaves the late window, to the nearest edge still after its request.
   */
  private nudge(d: Device, n: number, tReq: number, r: number): number {
    const { T, L, m } = this.ctx;
    if (r <= d.reqAt[0]! + T - m) return r;
    const edges: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const t = d.reqAt[i]!;
      edges.push([t + T - m, t + T + m], [t + T + L - m, t + T + L + m]);
    }
    edges.sort((a, b) => a[0] - b[0]);
    let lo = edges[0]![0];
    let hi = edges[0]![1];
    for (let i = 1; i <= edges.length; i++) {
      const e = edges[i];
      if (e !== undefined && e[0] <= hi) {
        hi = Math.max(hi, e[1]);
        continue;
      }
      if (r > lo && r < hi) {
        this.nudged++;
        return lo > tReq + 1 && r - lo <= hi - r ? lo : hi;
      }
      if (e === undefined) break;
      lo = e[0];
      hi = e[1];
    }
    return r;
  }
}
