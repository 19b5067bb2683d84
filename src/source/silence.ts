/**
 * When a broker connection that carried messages has gone silent.
 *
 * A TCP connection can stay up while nothing comes through it: a frozen broker, a bridge that
 * stopped forwarding, a subscription lost without a disconnect, a NAT that forgot the flow. TCP
 * keepalive and MQTT's PINGREQ take tens of seconds to notice, and some of those cases they never
 * notice. The feed's own rate says sooner: a fleet sending 1,000 messages a second that sends
 * none for 3 s is gone, while a tiny fleet with 30 s between messages is not silent after 30 s.
 *
 * The threshold is `factor` times the recent mean gap between messages, no less than `floorMs`
 * (a burst of fast traffic must not make an ordinary lull look like an outage) and no more than
 * `ceilingMs` (the configured `mqtt.silenceTimeout`), and no less than `gapMargin` times the
 * longest recent gap: a fleet whose devices send in bursts (all at the top of the minute, say) has
 * a small mean gap but long regular lulls, which are no silence. The mean gap is taken over roughly the last
 * `horizonMs`, each gap weighted by how recent it is; the silence in progress is no part of it,
 * so a long silence does not stretch the threshold it is measured against. Until the feed has
 * been measured over `learnMs` of gaps, its rhythm is unknown and the ceiling applies: a first
 * burst followed by a long regular lull is not taken for a silence.
 *
 * Pure: time and the count of messages received so far are given by the caller, who looks at
 * them on a timer, so the hot path pays one increment per message and nothing else.
 */
export interface SilenceRule {
  /** Ms; 0 turns the watch off. */
  ceilingMs: number;
  floorMs: number;
  factor: number;
  gapMargin: number;
  horizonMs: number;
  learnMs: number;
}

/** Within a few seconds for a fast feed; a lull of a busy fleet is well under it. */
export const SILENCE_FLOOR_MS = 3000;
/** Poisson-like arrivals leave a gap over ten times the mean with probability e^-10. */
export const SILENCE_FACTOR = 10;
/** A lull twice as long as any seen lately is no longer the feed's rhythm. */
export const SILENCE_GAP_MARGIN = 2;
export const SILENCE_HORIZON_MS = 60_000;
export const SILENCE_LEARN_MS = 10_000;

export function silenceRule(ceilingMs: number): SilenceRule {
  return {
    ceilingMs,
    floorMs: Math.min(SILENCE_FLOOR_MS, ceilingMs),
    factor: SILENCE_FACTOR,
    gapMargin: SILENCE_GAP_MARGIN,
    horizonMs: SILENCE_HORIZON_MS,
    learnMs: SILENCE_LEARN_MS,
  };
}

export class SilenceWatch {
  /** Messages received so far, as of the last look. */
  private seen = 0;
  /** When a look last found new messages on this connection; NaN before the first. */
  private lastArrival = Number.NaN;
  /** Time and messages over the horizon, each interval weighted by its age: mean gap = time / count. */
  private weightedMs = 0;
  private weightedCount = 0;
  /** The longest gap lately, fading over the horizon. */
  private longestGapMs = 0;
  /** Gaps measured so far, in all. */
  private measuredMs = 0;
  /** When a look last found new messages on any connection; NaN before the first. */
  private lastMessage = Number.NaN;
  /** Declared silent and no message since. */
  private silent = false;

  constructor(private readonly rule: SilenceRule) {}

  get enabled(): boolean {
    return this.rule.ceilingMs > 0;
  }

  /**
   * A new connection: the watch arms only once a message has come through it, so a broker that
   * accepts the connection but has nothing to send is not declared silent over and over.
   */
  connected(total: number): void {
    this.seen = total;
    this.lastArrival = Number.NaN;
  }

  /** One look at the count of messages received so far. */
  observe(now: number, total: number): void {
    const n = total - this.seen;
    if (n <= 0) return;
    this.seen = total;
    this.silent = false;
    if (!Number.isNaN(this.lastArrival)) {
      const dt = Math.max(0, now - this.lastArrival);
      const keep = Math.exp(-dt / this.rule.horizonMs);
      this.weightedMs = this.weightedMs * keep + dt;
      this.weightedCount = this.weightedCount * keep + n;
      this.longestGapMs = Math.max(dt, this.longestGapMs * keep);
      this.measuredMs += dt;
    }
    this.lastArrival = now;
    this.lastMessage = now;
  }

  /** Mean gap between messages lately, ms; Infinity while there is no measure yet. */
  meanGapMs(): number {
    return this.weightedCount > 0 ? this.weightedMs / this.weightedCount : Number.POSITIVE_INFINITY;
  }

  /** How long without a message makes this connection silent. */
  thresholdMs(): number {
    const r = this.rule;
    if (this.measuredMs < r.learnMs) return r.ceilingMs;
    return Math.min(
      r.ceilingMs,
      Math.max(r.floorMs, r.factor * this.meanGapMs(), r.gapMargin * this.longestGapMs),
    );
  }

  /**
   * How far past the latest message the clock may still stand for stream time: the feed's own
   * expected lull (the threshold without its floor). A fast feed's stream time is then the clock
   * within a fraction of a second, and a frozen link does not let the clock time requests out in
   * the seconds before the silence is declared; a slow or bursty feed's timeouts are still counted
   * at their deadline during its regular lulls.
   */
  clockGraceMs(): number {
    const r = this.rule;
    if (!this.enabled) return Number.POSITIVE_INFINITY;
    if (this.measuredMs < r.learnMs) return r.ceilingMs;
    return Math.min(r.ceilingMs, Math.max(r.factor * this.meanGapMs(), r.gapMargin * this.longestGapMs));
  }

  /** Time since the last message on this connection; 0 before the first. */
  quietForMs(now: number): number {
    return Number.isNaN(this.lastArrival) ? 0 : Math.max(0, now - this.lastArrival);
  }

  /** Time since the last message on any connection; NaN before the first. */
  sinceLastMessageMs(now: number): number {
    return Math.max(0, now - this.lastMessage);
  }

  /** True once the connection carried messages and has been quiet past the threshold. */
  overdue(now: number): boolean {
    return this.enabled && !Number.isNaN(this.lastArrival) && this.quietForMs(now) >= this.thresholdMs();
  }

  /**
   * Marks the silence declared (once: the caller counts it and reconnects). The watch then waits
   * for the next connection's first message; `isSilent` stays true until a message arrives.
   */
  declare(): void {
    this.silent = true;
    this.lastArrival = Number.NaN;
  }

  /** Declared silent and nothing received since. */
  get isSilent(): boolean {
    return this.silent;
  }
}
