import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { redactUrl } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { FleetEngine } from './engine.js';
import { buildFleet, type FleetProfile, loadProfile, profileSymbols } from './profile.js';
import { FaultPlan, type Scenario, validateScenario } from './scenario.js';
import { type StreamRule, streamRulesFor } from './streams.js';
import { PAGE_SYMBOL, type Truth } from './truth.js';

export interface SimOptions {
  mqttUrl: string;
  /** Default: the profile's fleet size. */
  devices?: number;
  /** Time compression of device behaviour (intervals, heartbeats, cycles); default 1. */
  speed?: number;
  /** Default: a random seed, logged. */
  seed?: number;
  /**
   * Devices ask for this long; the run then goes on until every request has its outcome (at most
   * timeout + late window + margin more), so that the truth is complete when the run ends.
   */
  durationMs?: number;
  /** Stop asking once this many messages were sent; the run then drains, so it sends a few more. */
  maxMessages?: number;
  scenario?: Scenario;
  /** The timeout the truth counts with (the exporter's `requestTimeout`); default 10 s. */
  requestTimeoutMs?: number;
  /** The exporter's late window; default the request timeout. */
  lateWindowMs?: number;
  /** Least distance between a reply and a moment at which its verdict would flip; default 1 s. */
  marginMs?: number;
  /** MQTT connections; each device uses one for its requests and its replies. Default 1. */
  connections?: number;
  profile?: FleetProfile;
  logger?: Logger;
  /**
   * Reconnect after a lost connection and go on, instead of stopping. What is published while
   * disconnected is dropped, so the truth is no longer exact: for runs without an end to compare
   * (`--forever`, the demo), which must outlive a broker restart.
   */
  reconnect?: boolean;
}

export interface SimStats {
  messages: number;
  /** Average since the start. */
  perSecond: number;
  elapsedMs: number;
  /** Largest delay of an event behind its planned time over the last progress interval. */
  lagMs: number;
  /** Largest such delay over the whole run. */
  worstLagMs: number;
}

export interface SimHandle {
  /**
   * Stops asking and resolves with the truth once every request has its outcome (at most
   * timeout + late window + margin later). With `immediate`, stops at once: requests still
   * pending are counted as the timeouts the exporter will see.
   */
  stop(opts?: { immediate?: boolean }): Promise<Truth>;
  done: Promise<Truth>;
  stats(): SimStats;
}

/**
 * Stream-mapping rules in the exporter's format that reproduce `streamOf` for every symbol the
 * simulator can use: one exact rule per symbol.
 */
export function streamMappingRules(profile?: FleetProfile): StreamRule[] {
  return streamRulesFor(profileSymbols(profile ?? loadProfile()));
}

const PUBLISH_OPTIONS: IClientPublishOptions = { qos: 0, retain: false };
const PROGRESS_MS = 10_000;

function positive(name: string, v: number | undefined, integer = false): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  }
}

/** Why a connection failed, in a few words: the errno or the broker's CONNACK refusal. */
function why(err: Error & { code?: string | number }): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (no broker listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no answer from the host';
    case 4:
    case 5:
    case 134:
    case 135:
      return `the broker refused the credentials (${err.message})`;
    default:
      return err.message;
  }
}

const RECONNECT_MS = 1000;

function connect(url: string, clientId: string, reconnect: boolean): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: reconnect ? RECONNECT_MS : 0,
      connectTimeout: 10_000,
      keepalive: 30,
      // While disconnected, publishes are dropped rather than queued without bound.
      queueQoSZero: false,
    });
    const fail = (err: Error) => {
      client.end(true);
      reject(
        new TkmpromError(ErrorCodes.BROKER_UNREACHABLE, `cannot connect to ${redactUrl(url)}: ${why(err)}`, {
          cause: err,
        }),
      );
    };
    const closed = () => fail(new Error('the connection closed before the broker accepted it'));
    client.once('error', fail);
    client.once('close', closed);
    client.once('connect', () => {
      // Only these: the client keeps listeners of its own on 'close'.
      client.off('error', fail);
      client.off('close', closed);
      resolve(client);
    });
  });
}

async function flushAndClose(client: MqttClient): Promise<void> {
  // Writes are corked until the next tick and 'drain' only follows a refused write, so poll.
  const stream = client.stream as unknown as { writableLength?: number };
  const deadline = Date.now() + 30_000;
  while (client.connected && (stream.writableLength ?? 0) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await client.endAsync().catch(() => undefined);
}

/**
 * Connects, builds the fleet and runs it until the duration or message bound is reached (or
 * `stop`). `done` resolves with the truth after the connections were flushed and closed.
 */
export async function startSimulation(opts: SimOptions): Promise<SimHandle> {
  positive('devices', opts.devices, true);
  positive('speed', opts.speed);
  positive('durationMs', opts.durationMs);
  positive('maxMessages', opts.maxMessages, true);
  positive('requestTimeoutMs', opts.requestTimeoutMs);
  positive('connections', opts.connections, true);
  if (opts.lateWindowMs !== undefined && !(opts.lateWindowMs >= 0)) {
    throw new RangeError(`lateWindowMs must be zero or more, got ${opts.lateWindowMs}`);
  }
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const lateWindowMs = opts.lateWindowMs ?? timeoutMs;
  const marginMs = opts.marginMs ?? 1000;
  if (!(marginMs >= 500)) throw new RangeError(`marginMs must be at least 500, got ${marginMs}`);
  if (timeoutMs < 3 * marginMs) {
    throw new RangeError(`requestTimeoutMs must be at least 3 x the margin (${3 * marginMs} ms)`);
  }
  const logger = opts.logger ?? silentLogger();
  const profile = opts.profile ?? loadProfile();
  const seed = opts.seed ?? randomInt(0, 0x1_0000_0000);
  const devices = opts.devices ?? profile.devices;
  const speed = opts.speed ?? 1;
  const connections = opts.connections ?? 1;
  const scenario = validateScenario(opts.scenario ?? { faults: [] });
  const faults = new FaultPlan(scenario);
  const fleet = buildFleet(profile, devices, seed);

  const shown = new Set(fleet.flatMap((d) => d.symbols));
  for (const s of faults.symbols()) {
    if (s !== PAGE_SYMBOL && !shown.has(s))
      logger.warn({ symbol: s }, 'scenario names a symbol no simulated device shows');
  }

  const tag = `${process.pid.toString(16)}-${randomInt(0, 0xffffff).toString(16)}`;
  const settled = await Promise.allSettled(
    Array.from({ length: connections }, (_, i) =>
      connect(opts.mqttUrl, `tkmprom-sim-${tag}-${i}`, opts.reconnect === true),
    ),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') r.value.end(true);
    throw failed.reason;
  }
  const clients = settled.map((r) => (r as PromiseFulfilledResult<MqttClient>).value);

  // The clock starts once the fleet is built and planned, so that building it is not lag.
  let t0 = performance.now();
  let endedAt: number | undefined;
  const clock = () => performance.now() - t0;
  let resolveDone!: (t: Truth) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<Truth>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let lastLag = 0;
  let progress: NodeJS.Timeout | undefined;
  let closing = false;

  const engine: FleetEngine = new FleetEngine({
    fleet,
    speed,
    seed,
    timeoutMs,
    lateWindowMs,
    marginMs,
    askUntil: opts.durationMs ?? Number.POSITIVE_INFINITY,
    maxMessages: opts.maxMessages ?? Number.POSITIVE_INFINITY,
    faults,
    connections,
    publish: (conn, topic, payload) => {
      clients[conn]!.publish(topic, payload, PUBLISH_OPTIONS);
    },
    clock,
    wallStartMs: Date.now(),
    logger,
    onEnd: () => {
      endedAt = clock();
      closing = true;
      if (progress) clearInterval(progress);
      void Promise.all(clients.map(flushAndClose))
        .then(() => {
          const truth = engine.truth();
          const s = stats();
          logger.info(
            {
              messages: truth.messages,
              perSecond: Math.round(s.perSecond),
              elapsedS: Math.round(s.elapsedMs / 100) / 10,
              reboots: truth.reboots,
              unmatched: truth.unmatched,
              nudgedReplies: engine.nudged,
            },
            'simulation finished',
          );
          resolveDone(truth);
        })
        .catch(rejectDone);
    },
  });

  const stats = (): SimStats => {
    const elapsedMs = (endedAt ?? clock()) || 1;
    return {
      messages: engine.ledger.messages,
      perSecond: (engine.ledger.messages * 1000) / elapsedMs,
      elapsedMs,
      lagMs: lastLag,
      worstLagMs: engine.scheduler.worstLagMs,
    };
  };

  for (const [i, client] of clients.entries()) {
    client.on('error', (err) => logger.error({ err, connection: i }, 'MQTT error'));
    let lost = false;
    client.on('connect', () => {
      if (!lost) return;
      lost = false;
      logger.warn({ connection: i }, 'MQTT connection back');
    });
    client.on('close', () => {
      if (closing) return;
      if (opts.reconnect === true) {
        if (!lost) {
          logger.warn(
            { connection: i, reconnectMs: RECONNECT_MS },
            'MQTT connection lost: reconnecting; what is published meanwhile is dropped, so the truth is no longer exact',
          );
        }
        lost = true;
        return;
      }
      logger.error(
        { connection: i },
        'MQTT connection lost: messages were lost, so the truth no longer matches the traffic; stopping',
      );
      engine.requestStop(true);
    });
  }

  const kinds: Record<string, number> = {};
  for (const d of fleet) kinds[d.kind] = (kinds[d.kind] ?? 0) + 1;
  logger.info(
    {
      mqttUrl: opts.mqttUrl,
      devices,
      kinds,
      speed,
      seed,
      connections,
      timeoutMs,
      lateWindowMs,
      durationMs: opts.durationMs,
      maxMessages: opts.maxMessages,
      faults: scenario.faults.length,
    },
    'simulation started',
  );

  let lastCount = 0;
  let lastAt = 0;
  progress = setInterval(() => {
    const now = clock();
    const count = engine.ledger.messages;
    lastLag = engine.scheduler.takeLag();
    const buffered = clients.reduce(
      (sum, c) => sum + ((c.stream as unknown as { writableLength?: number }).writableLength ?? 0),
      0,
    );
    const fields = {
      messages: count,
      perSecond: Math.round(((count - lastCount) * 1000) / (now - lastAt)),
      lagMs: Math.round(lastLag),
      bufferedBytes: buffered,
      draining: engine.isDraining,
    };
    if (lastLag > marginMs / 2) {
      logger.warn(
        fields,
        'falling behind schedule: the exporter may see timings the truth did not count with',
      );
    } else {
      logger.info(fields, 'progress');
    }
    lastCount = count;
    lastAt = now;
  }, PROGRESS_MS);
  progress.unref();

  engine.prime();
  t0 = performance.now();
  engine.scheduler.start();

  return {
    done,
    stats,
    stop(stopOpts) {
      engine.requestStop(stopOpts?.immediate ?? false);
      return done;
    },
  };
}
