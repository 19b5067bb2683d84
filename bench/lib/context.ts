import type { Socket } from 'node:net';
import type { Generator } from './gen-client.js';
import { publishFrame } from './frames.js';
import { sleep } from './procs.js';
import type { Receiver } from './receivers.js';

export interface Ctx {
  quick: boolean;
  gen: Generator;
  /** Progress lines, on stderr so that stdout keeps only the summary. */
  log(line: string): void;
  /** Throws once the run's time budget is spent, so a run never overstays. */
  checkTime(what: string): void;
}

/** The standard fleet of the issue: today's fleet, 8,000 devices and 3,400 symbols. */
export const STANDARD = { devices: 8000, symbols: 3400, seed: 1 } as const;

/**
 * Waits until a receiver has read `bytes` more than `from` off its sockets, i.e. caught up with
 * what the generator wrote. Returns the milliseconds waited, or NaN if it did not catch up within
 * `timeoutMs` or stopped reading for `stallMs` (what it has not read by then was dropped).
 */
export async function caughtUp(
  r: Receiver,
  from: number,
  bytes: number,
  timeoutMs: number,
  stallMs = 400,
): Promise<number> {
  const t0 = performance.now();
  let last = -1;
  let lastChange = t0;
  for (;;) {
    let now: number;
    try {
      now = r.bytesIn();
    } catch {
      return Number.NaN;
    }
    const t = performance.now();
    if (now - from >= bytes) return t - t0;
    if (now !== last) {
      last = now;
      lastChange = t;
    }
    if (t - t0 > timeoutMs || t - lastChange > stallMs) return Number.NaN;
    await sleep(5);
  }
}

export function publish(socket: Socket, topic: string, payload: string): void {
  socket.write(publishFrame(topic, payload));
}
