import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Batched reads of a plain TCP connection to the broker.
 *
 * At a light rate every message arrives alone, and each one costs a wakeup, a read and a turn of
 * the stream machinery before any of the exporter's code runs: at 1,000 msg/s that alone was 3 to
 * 5 % of a core. After a small read the socket is paused for the window, so the kernel gathers
 * what arrives meanwhile and one read brings it all. A full read (heavy traffic) never pauses.
 *
 * The price is time resolution: a message may be handled up to one window after it arrived. A
 * latency is the difference of two such delays, so it is not biased, and it is off by less than
 * one window (standard deviation window / sqrt(6)).
 *
 * The socket must be created with a read buffer of one byte (`readableHighWaterMark: 1`), so that
 * a paused socket stops reading from the kernel instead of filling its own buffer one message at
 * a time; `connectMqtt` (connection.ts) does.
 */

/**
 * A read that fills this much means traffic is heavy: reads already carry many messages each and
 * the socket is read again at once.
 */
const FULL_READ_BYTES = 16 * 1024;
/** A few of the fleet's messages (100 to 200 bytes each): a pause expected to gather less is not taken. */
const MIN_GATHER_BYTES = 512;

export interface BatchedReads {
  /** True while a pause holds reads back. */
  readonly paused: boolean;
  /**
   * During the read that ends a pause: how long its data may have waited, that is the time since
   * the pause began (what it brings arrived at some point within it). 0 for any other read.
   */
  waitedMs(now: number): number;
  /** How far behind the broker reading is now: the time since the current pause began, or 0. */
  lagMs(now: number): number;
  /** See `BrokerConnection.catchUp`. */
  catchUp(): Promise<void>;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * After a small read, stops reading for at most `windowMs`, and never longer than it takes the
 * current rate to bring about one full read: a paused socket's data waits in the kernel and, past
 * the socket's buffer, in the broker's queue for this client, which drops when it is full. At
 * 60,000 msg/s a fixed 20 ms pause gathered 1,200 messages, more than Mosquitto's default queue.
 * Exported for tests.
 */
export function pauseAfterSmallReads(socket: Socket, windowMs: number): BatchedReads {
  let waiting = false;
  let timer: NodeJS.Timeout | undefined;
  let yielding: NodeJS.Immediate | undefined;
  // The first read has no rate to go by (the connection's set-up is no measure of traffic) and never pauses.
  let lastReadAt = Number.NaN;
  let pausedAt = Number.NaN;
  let smoothRate = 0;
  // Set from resume until the read it brings has been handled: what that read holds arrived after it.
  let heldSince = Number.NaN;
  const resume = (): void => {
    waiting = false;
    timer = undefined;
    yielding = undefined;
    heldSince = pausedAt;
    if (!socket.destroyed) socket.resume();
  };
  socket.on('data', (chunk: Buffer) => {
    const now = performance.now();
    heldSince = Number.NaN;
    // Bytes per millisecond since the previous read, pause included: the rate the kernel is filling at.
    const rate = chunk.length / Math.max(now - lastReadAt, 0.001);
    const first = Number.isNaN(lastReadAt);
    lastReadAt = now;
    if (first) return;
    // Smoothed, for the decision to pause at all: one read's rate swings with the timing of a few messages.
    smoothRate = smoothRate === 0 ? rate : 0.7 * smoothRate + 0.3 * rate;
    if (waiting) return;
    if (chunk.length >= FULL_READ_BYTES) {
      // Heavy traffic: read again at once, but after the other sockets (HTTP) have had their turn.
      // Left alone, libuv reads a busy socket up to 32 times in one go, and every read is handled
      // as it comes: at 20,000 msg/s that held a scrape or an API request for tens of ms.
      waiting = true;
      pausedAt = now;
      socket.pause();
      yielding = setImmediate(resume);
      return;
    }
    if (!(windowMs > 0)) return;
    // One read's rate can look slow (a small read after a lull, or after the process was busy): the
    // smoothed rate keeps such a read from starting a pause that gathers far more than a full read.
    const pauseMs = Math.min(windowMs, FULL_READ_BYTES / Math.max(rate, smoothRate));
    // A pause that would gather a message or two saves no reads, and only costs time resolution.
    if (pauseMs < 1 || smoothRate * pauseMs < MIN_GATHER_BYTES) return;
    waiting = true;
    pausedAt = now;
    // The chunk has already been handled (that listener came first); pausing holds back the next.
    socket.pause();
    timer = setTimeout(resume, pauseMs).unref();
  });
  return {
    get paused() {
      return waiting;
    },
    waitedMs(now: number) {
      return heldSince >= 0 ? Math.max(0, now - heldSince) : 0;
    },
    lagMs(now: number) {
      return waiting ? Math.max(0, now - pausedAt) : 0;
    },
    async catchUp() {
      if (!waiting) return;
      clearTimeout(timer);
      if (yielding !== undefined) clearImmediate(yielding);
      resume();
      // The resumed socket is read in the next poll phase; the second turn runs after it.
      await nextTurn();
      await nextTurn();
    },
  };
}
