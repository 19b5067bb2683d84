import type { Logger } from '../log.js';
import type { Device } from './device.js';
import type { DeviceSpec } from './profile.js';
import type { Rng } from './rng.js';
import type { FaultPlan } from './scenario.js';
import type { Scheduler } from './scheduler.js';
import type { TruthLedger } from './truth.js';

export interface EngineOptions {
  fleet: DeviceSpec[];
  speed: number;
  seed: number;
  timeoutMs: number;
  lateWindowMs: number;
  /** Minimum distance between a reply and any time at which the exporter's verdict would flip. */
  marginMs: number;
  /** Devices ask until then (ms from the start; Infinity for no bound); the run then drains. */
  askUntil: number;
  maxMessages: number;
  faults: FaultPlan;
  connections: number;
  publish: (conn: number, topic: string, payload: string) => void;
  /** Milliseconds since the run's start. */
  clock: () => number;
  /** Wall-clock time of the run's start, for the dates in quotes. */
  wallStartMs: number;
  logger: Logger;
  onEnd?: () => void;
}

/** Event codes: kind in the low 4 bits, an index above. */
export const E_WAKE = 1;
export const E_REQ = 2;
export const E_HOP = 3;
export const E_REPLY = 4;
export const E_BOOT = 5;
export const E_ECHO = 6;
export const E_BOOT_REPLY = 7;
export const E_BOOT_RETRY = 8;
export const E_SILENT_HB = 9;
export const E_END = 10;
export const E_DRAIN = 11;

/** Real time between the requests of a playlist cycle (not compressed by speed). */
export const PLAYLIST_SPACING_MS = 300;

/**
 * What the fleet's devices, the backend and the cycle planner share: one random stream (so a seed
 * gives one run, whichever part draws), one scheduler, one ledger, one way out.
 */
export interface SimContext {
  readonly o: EngineOptions;
  readonly rng: Rng;
  readonly scheduler: Scheduler;
  readonly ledger: TruthLedger;
  /** Timeout, late window and margin, in ms. */
  readonly T: number;
  readonly L: number;
  readonly m: number;
  out(conn: number, topic: string, payload: string): void;
  /** Whether devices still start cycles and boots at `t`. */
  asking(t: number): boolean;
  /** The run may not end before `t`: a reply is planned then. */
  quietUntil(t: number): void;
  /** Plans the device's next wake-up, towards its next cycle at `nextCycleAt`. */
  planWake(d: Device, now: number, nextCycleAt: number): void;
}
