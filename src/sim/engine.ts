import { Backend } from './backend.js';
import {
  E_BOOT,
  E_BOOT_REPLY,
  E_BOOT_RETRY,
  E_DRAIN,
  E_ECHO,
  E_END,
  E_HOP,
  E_REPLY,
  E_REQ,
  E_SILENT_HB,
  E_WAKE,
  type EngineOptions,
  PLAYLIST_SPACING_MS,
  type SimContext,
} from './context.js';
import { CyclePlanner } from './cycle.js';
import { Device, DeviceBehaviour, HEARTBEAT_MIN_MS, KIND_NOCONFIG, KIND_UNREGISTERED } from './device.js';
import { deriveSeed, Rng } from './rng.js';
import { Scheduler } from './scheduler.js';
import { type Truth, TruthLedger } from './truth.js';

export type { EngineOptions } from './context.js';

/** Real time between heartbeats of an idle device, before speed compresses it. */
const HEARTBEAT_IDLE_MS = 30_000;

/**
 * The fleet and its quote backend, as one event-driven model. Devices follow the protocol's
 * timing; the backend answers through the same publisher, so that a broker relays each request
 * before its reply. Every message is also counted by a `TruthLedger` at the moment it leaves.
 *
 * The truth is unambiguous because no reply ever lands within `marginMs` of a moment at which one
 * of its device's requests times out or leaves the late window, a device starts a cycle only once
 * the previous one has settled, and reboots happen only between settled cycles.
 */
export class FleetEngine implements SimContext {
  readonly ledger: TruthLedger;
  readonly scheduler: Scheduler;
  readonly devices: Device[];
  readonly rng: Rng;
  readonly o: EngineOptions;
  readonly T: number;
  readonly L: number;
  readonly m: number;
  private readonly behaviour: DeviceBehaviour;
  private readonly backend: Backend;
  private readonly planner: CyclePlanner;
  private readonly stopAskingAt: number;
  /**
   * Real time between heartbeats of a device between cycles. Speed compresses it, but never below
   * the shortest cycle period: cycles cannot run faster than the device's 10 s wait, and
   * heartbeats compressed further would swamp the traffic.
   */
  private readonly heartbeatIdleMs: number;
  private draining = false;
  private quietAt = 0;
  private endAt = Number.POSITIVE_INFINITY;
  private endedFlag = false;

  constructor(opts: EngineOptions) {
    this.o = opts;
    this.T = opts.timeoutMs;
    this.L = opts.lateWindowMs;
    this.m = opts.marginMs;
    this.stopAskingAt = opts.askUntil;
    this.heartbeatIdleMs = Math.max(HEARTBEAT_IDLE_MS / opts.speed, this.T + this.m);
    this.ledger = new TruthLedger(opts.timeoutMs, opts.lateWindowMs);
    this.rng = new Rng(deriveSeed(opts.seed, 'behaviour'));
    this.scheduler = new Scheduler(opts.clock, this.handle);
    this.behaviour = new DeviceBehaviour(this);
    this.backend = new Backend(this);
    this.planner = new CyclePlanner(this, this.behaviour);
    this.devices = opts.fleet.map(
      (spec, i) =>
        new Device(
          i,
          spec,
          i % opts.connections,
          spec.symbols.map((s) => this.backend.symbol(s)),
          opts.speed,
        ),
    );
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  /** Replies moved out of a window around a verdict-flipping moment, for the log. */
  get nudged(): number {
    return this.planner.nudged;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Plans the first event of every device and of the run's end. */
  prime(): void {
    const rng = this.rng;
    for (const d of this.devices) {
      if (d.spec.bootsAtStart) {
        d.bootAt = rng.between(0, 6000);
        d.booting = true;
        d.bootAnswered = false;
        this.scheduler.at(d.bootAt + rng.between(1000, 3000), d.idx, E_BOOT | (1 << 4));
      } else {
        d.bootAt -= rng.between(0, 1000);
        // Spread first cycles over the period devices will really keep, which the timeout bounds
        // from below, so that the fleet does not start in lockstep.
        const period = Math.max(d.updateMs, this.T + this.m + PLAYLIST_SPACING_MS * d.syms.length);
        d.nextCycleAt = rng.between(0, period);
        d.lastCycleAt = d.nextCycleAt - d.updateMs;
        const firstHeartbeat = rng.between(0, this.heartbeatIdleMs);
        this.scheduler.at(Math.min(d.nextCycleAt, firstHeartbeat), d.idx, E_WAKE);
      }
    }
    if (Number.isFinite(this.stopAskingAt)) this.scheduler.at(this.stopAskingAt, -1, E_DRAIN);
  }

  start(): void {
    this.prime();
    this.scheduler.start();
  }

  /** Runs in simulated time, every event at its planned time, until the end or `untilMs`. */
  runVirtual(untilMs: number): void {
    this.scheduler.runVirtual(untilMs);
  }

  /**
   * No new cycles or boots from now on; the run ends once everything already asked has its
   * outcome (timeout + late window + margin after the last request, or later when a fault delays
   * a reply beyond that). With `immediate`, it ends now: what is still pending will time out at
   * the exporter, and the truth counts it so.
   */
  requestStop(immediate: boolean): void {
    if (this.endedFlag) return;
    if (immediate) {
      this.finish();
      return;
    }
    this.startDrain();
  }

  truth(): Truth {
    return this.ledger.finalize();
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.endAt = Math.max(this.scheduler.now, this.quietAt) + 1;
    this.scheduler.at(this.endAt, -1, E_END);
  }

  private finish(): void {
    if (this.endedFlag) return;
    this.endedFlag = true;
    this.scheduler.stop();
    this.scheduler.virtualHalt = true;
    this.o.onEnd?.();
  }

  out(conn: number, topic: string, payload: string): void {
    this.o.publish(conn, topic, payload);
    if (++this.ledger.messages >= this.o.maxMessages && !this.draining) this.startDrain();
  }

  quietUntil(t: number): void {
    this.quietAt = Math.max(this.quietAt, t);
  }

  asking(t: number): boolean {
    return !this.draining && t < this.stopAskingAt;
  }

  private readonly handle = (time: number, idx: number, code: number): void => {
    if (idx < 0) {
      if (code === E_DRAIN) this.startDrain();
      else if (code === E_END && time >= this.endAt) this.finish();
      return;
    }
    const d = this.devices[idx]!;
    const arg = code >> 4;
    switch (code & 15) {
      case E_WAKE:
        this.wake(d, time);
        break;
      case E_REQ:
        this.behaviour.sendRequest(d, arg);
        break;
      case E_HOP:
        this.backend.sendHop(d, arg);
        break;
      case E_REPLY:
        this.backend.sendReply(d, arg);
        break;
      case E_BOOT:
        this.boot(d, time, arg === 1);
        break;
      case E_ECHO:
        this.backend.sendEcho(d);
        break;
      case E_BOOT_REPLY:
        this.backend.sendBootReply(d, time);
        break;
      case E_BOOT_RETRY:
        if (d.booting && !d.bootAnswered && this.asking(time)) this.boot(d, time, false);
        break;
      case E_SILENT_HB:
        this.behaviour.heartbeat(d, time);
        this.planWake(d, time, time + this.rng.between(500, 2000));
        break;
    }
  };

  private boot(d: Device, t: number, first: boolean): void {
    if (this.behaviour.sendBoot(d, t, first)) this.backend.onBoot(d, t);
  }

  planWake(d: Device, now: number, nextCycleAt: number): void {
    d.nextCycleAt = nextCycleAt;
    const next = Math.min(nextCycleAt, now + this.heartbeatIdleMs);
    if (next <= this.endAt) this.scheduler.at(next, d.idx, E_WAKE);
  }

  private wake(d: Device, t: number): void {
    const speed = this.o.speed;
    if (t + 0.5 < d.nextCycleAt) {
      if (t - d.lastHeartbeatAt >= HEARTBEAT_MIN_MS / speed) this.behaviour.heartbeat(d, t);
      this.planWake(d, t, d.nextCycleAt);
      return;
    }
    const asking = this.asking(t);
    if (asking && this.behaviour.mayReboot(d, t)) {
      this.behaviour.reboot(d, t);
      return;
    }
    if (t - d.lastHeartbeatAt >= HEARTBEAT_MIN_MS / speed) this.behaviour.heartbeat(d, t);
    if (asking && d.kind !== KIND_NOCONFIG && d.kind !== KIND_UNREGISTERED) this.backend.sendExtras(d, t);
    d.lastCycleAt = t;
    if (asking) {
      const settle = this.planner.plan(d, t);
      this.planWake(d, t, Math.max(t + d.updateMs + this.rng.between(0, 20), settle));
      return;
    }
    this.planWake(d, t, t + Math.max(d.updateMs, HEARTBEAT_MIN_MS / speed));
  }
}
