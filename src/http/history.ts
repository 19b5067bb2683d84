export const HISTORY_MINUTES = 60;
const MINUTE_MS = 60_000;

interface Series {
  /** The minute each slot holds, so a slot left over from an hour ago reads as empty. */
  minute: Float64Array;
  p95: Float64Array;
  rate: Float64Array;
}

export interface HistoryPoints {
  /** Wall-clock ms of the start of the oldest minute. */
  startMs: number;
  p95: (number | null)[];
  rate: (number | null)[];
}

/**
 * The last hour of a few figures per key, one point per wall-clock minute: the latest value recorded
 * during that minute wins, so a point reads as "as of the end of the minute". Fixed memory per key
 * (3 x 60 numbers); keys are streams, whose number the stats already bound.
 */
export class MinuteHistory {
  private readonly series = new Map<string, Series>();

  record(key: string, wallMs: number, p95: number, rate: number): void {
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        minute: new Float64Array(HISTORY_MINUTES).fill(-1),
        p95: new Float64Array(HISTORY_MINUTES),
        rate: new Float64Array(HISTORY_MINUTES),
      };
      this.series.set(key, s);
    }
    const minute = Math.floor(wallMs / MINUTE_MS);
    const i = minute % HISTORY_MINUTES;
    s.minute[i] = minute;
    s.p95[i] = p95;
    s.rate[i] = rate;
  }

  /** The 60 minutes ending with the one holding `wallMs`, oldest first; null where nothing is known. */
  points(key: string, wallMs: number): HistoryPoints {
    const last = Math.floor(wallMs / MINUTE_MS);
    const first = last - HISTORY_MINUTES + 1;
    const p95: (number | null)[] = new Array(HISTORY_MINUTES);
    const rate: (number | null)[] = new Array(HISTORY_MINUTES);
    const s = this.series.get(key);
    for (let k = 0; k < HISTORY_MINUTES; k++) {
      const m = first + k;
      const i = m % HISTORY_MINUTES;
      const known = s !== undefined && s.minute[i] === m;
      p95[k] = known ? finite(s.p95[i]!) : null;
      rate[k] = known ? finite(s.rate[i]!) : null;
    }
    return { startMs: first * MINUTE_MS, p95, rate };
  }
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
