import { silentLogger } from '../log.js';
import { FleetEngine } from './engine.js';
import { buildFleet, type FleetProfile, loadProfile } from './profile.js';
import type { TrafficMessage } from './replay.js';
import { FaultPlan, type Scenario, validateScenario } from './scenario.js';
import type { Truth } from './truth.js';

export interface VirtualRunOptions {
  devices: number;
  speed?: number;
  seed?: number;
  /** Devices ask for this long; the run then drains until every request has its outcome. */
  durationMs: number;
  maxMessages?: number;
  scenario?: Scenario;
  requestTimeoutMs?: number;
  lateWindowMs?: number;
  marginMs?: number;
  profile?: FleetProfile;
  /** Keep the traffic (topic, payload, time) in the result; default true. */
  record?: boolean;
  /**
   * Hands every message over as it is published, at its time, instead of keeping it: a run of
   * simulated days in constant memory.
   */
  onMessage?: (t: number, topic: string, payload: string | Buffer) => void;
  /** Calls `stop` (drain, or immediate) at this time, as `SimHandle.stop` would. */
  stopAt?: { ms: number; immediate: boolean };
}

export interface VirtualRun {
  truth: Truth;
  traffic: TrafficMessage[];
  engine: FleetEngine;
}

/**
 * Runs a fleet in simulated time, with no broker and no waiting: every message at its planned
 * time. The same seed gives the same traffic and truth.
 */
export function runVirtual(opts: VirtualRunOptions): VirtualRun {
  const profile = opts.profile ?? loadProfile();
  const seed = opts.seed ?? 1;
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const traffic: TrafficMessage[] = [];
  const record = opts.record ?? true;
  let engine: FleetEngine | undefined;
  engine = new FleetEngine({
    fleet: buildFleet(profile, opts.devices, seed),
    speed: opts.speed ?? 1,
    seed,
    timeoutMs,
    lateWindowMs: opts.lateWindowMs ?? timeoutMs,
    marginMs: opts.marginMs ?? 1000,
    askUntil: opts.durationMs,
    maxMessages: opts.maxMessages ?? Number.POSITIVE_INFINITY,
    faults: new FaultPlan(validateScenario(opts.scenario ?? { faults: [] })),
    connections: 1,
    publish: opts.onMessage
      ? (_conn, topic, payload) => opts.onMessage!(engine!.scheduler.now, topic, payload)
      : record
        ? (_conn, topic, payload) => {
            traffic.push({ t: engine!.scheduler.now, topic, payload });
          }
        : () => undefined,
    clock: () => engine!.scheduler.now,
    wallStartMs: Date.UTC(2023, 5, 26, 15, 0, 0),
    logger: silentLogger(),
  });
  engine.prime();
  if (opts.stopAt) {
    // An empty event, so that the clock stands at the stop time when the stop is requested.
    engine.scheduler.at(opts.stopAt.ms, -1, 0);
    engine.runVirtual(opts.stopAt.ms);
    engine.requestStop(opts.stopAt.immediate);
  }
  if (!engine.ended) engine.runVirtual(Number.POSITIVE_INFINITY);
  return { truth: engine.truth(), traffic, engine };
}
