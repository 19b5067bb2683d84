import { constants } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDuration } from '../config/index.js';
import { ErrorCodes, isTkmpromError, TkmpromError } from '../errors.js';
import { parseFlags } from './args.js';
import { createLogger, type LogLevel } from '../log.js';
import {
  DEMO_SCENARIO,
  parseScenario,
  type Scenario,
  type SimOptions,
  startSimulation,
} from '../sim/index.js';

export const SIMULATE_HELP = `Usage: tkmprom simulate [options]

Runs a simulated TickrMeter fleet and its quote backend against an MQTT broker, and writes the
ground truth that an exporter watching the broker must report.

Options:
  --mqtt-url URL        broker to publish to (default mqtt://127.0.0.1:1883)
  --devices N           fleet size (default 7662, the fleet profile's)
  --speed X             time compression of device behaviour: update intervals, heartbeats,
                        playlist cycles (default 1); the 10 s device wait stays real time
  --seed N              seed of the fleet and of every random choice (default random, logged)
  --duration D          devices ask for D (90s, 10m, 1h); the run then goes on until every
                        request has its outcome (up to timeout + late window + 1s more)
  --max-messages N      devices stop asking after N messages; the run then ends the same way
  --forever             run until interrupted, with neither bound; a lost connection is
                        reconnected (what is published meanwhile is dropped)
  --scenario FILE       backend faults, a YAML file (see below); "demo" for the built-in one
  --truth FILE          write the ground truth there (JSON) when the run ends
  --request-timeout D   the exporter's request timeout the truth counts with (default 10s)
  --late-window D       the exporter's late window (default: the request timeout)
  --connections N       MQTT connections to spread the devices over (default 1)
  --log-level L         fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help            print this help

Scenario file:
  faults:
    - { symbol: TSLA, latency: 4s }              # this symbol answers slowly
    - { stream: coingecko, drop: 1.0 }           # share of its requests never answered
    - { symbol: XYZ, error: STOCK_ERROR, rate: 0.5 }
    - { outage: true, from: 30s, until: 40s }    # the backend answers nothing
    - { stream: polygon, latency: 2s, from: 60s }
    - { symbol: AAPL, late: 0.3 }                # share answered after the timeout
  error is one of STOCK_ERROR, INVALID_FORMAT, PAGE_ERROR; from/until count from the start.

The first SIGINT or SIGTERM stops asking and ends once every request has its outcome (at most
timeout + late window + 1s later); a second one ends at once. The truth is written either way.
Exit status: 0 done, 1 failure (broker unreachable, truth not written), 2 usage error.
`;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function usage(message: string): TkmpromError {
  return new TkmpromError(ErrorCodes.CLI_USAGE, message);
}

function positiveInt(
  name: string,
  text: string | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw usage(`${name}: expected a whole number from 1 to ${max}, got "${text}"`);
  }
  return n;
}

function durationOf(name: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || (!allowZero && ms <= 0)) {
    throw usage(`${name}: expected a duration such as 500ms, 10s or 5m, got "${text}"`);
  }
  return ms;
}

interface Parsed {
  options: SimOptions;
  truthPath: string | undefined;
  logLevel: LogLevel;
  help: boolean;
}

async function parse(args: string[]): Promise<Parsed> {
  const { values } = parseFlags(args, {
    'mqtt-url': { type: 'string' },
    devices: { type: 'string' },
    speed: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    'max-messages': { type: 'string' },
    forever: { type: 'boolean' },
    scenario: { type: 'string' },
    truth: { type: 'string' },
    'request-timeout': { type: 'string' },
    'late-window': { type: 'string' },
    connections: { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const str = (k: string) => values[k] as string | undefined;
  if (values.help) {
    return { options: { mqttUrl: '' }, truthPath: undefined, logLevel: 'info', help: true };
  }

  const mqttUrl = str('mqtt-url') ?? 'mqtt://127.0.0.1:1883';
  if (!/^(mqtts?|tcp|ssl|wss?):\/\/[^/]+/.test(mqttUrl)) {
    throw usage(`--mqtt-url: expected a URL such as mqtt://127.0.0.1:1883, got "${mqttUrl}"`);
  }
  const speedText = str('speed');
  let speed: number | undefined;
  if (speedText !== undefined) {
    speed = Number(speedText);
    if (speedText.trim() === '' || !Number.isFinite(speed) || speed <= 0 || speed > 1_000_000) {
      throw usage(`--speed: expected a positive number, got "${speedText}"`);
    }
  }
  const seedText = str('seed');
  let seed: number | undefined;
  if (seedText !== undefined) {
    seed = Number(seedText);
    if (!/^\d+$/.test(seedText.trim()) || !(seed <= 0xffffffff)) {
      throw usage(`--seed: expected a whole number from 0 to 4294967295, got "${seedText}"`);
    }
  }
  const durationMs = durationOf('--duration', str('duration'));
  const maxMessages = positiveInt('--max-messages', str('max-messages'));
  const forever = values.forever === true;
  if (forever && (durationMs !== undefined || maxMessages !== undefined)) {
    throw usage('--forever: cannot be combined with --duration or --max-messages');
  }
  if (!forever && durationMs === undefined && maxMessages === undefined) {
    throw usage('give --duration, --max-messages, or --forever to run until interrupted');
  }
  const requestTimeoutMs = durationOf('--request-timeout', str('request-timeout'));
  if (requestTimeoutMs !== undefined && requestTimeoutMs < 3000) {
    throw usage(
      `--request-timeout: must be at least 3s, three times the 1 s margin that keeps each simulated reply clear of its timeout, got "${str('request-timeout')}"`,
    );
  }
  const lateWindowMs = durationOf('--late-window', str('late-window'), true);
  const connections = positiveInt('--connections', str('connections'), 64);
  const devices = positiveInt('--devices', str('devices'), 10_000_000);
  const level = (str('log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw usage(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }

  let scenario: Scenario | undefined;
  const scenarioPath = str('scenario');
  if (scenarioPath === 'demo') {
    scenario = DEMO_SCENARIO;
  } else if (scenarioPath !== undefined) {
    let text: string;
    try {
      text = await readFile(scenarioPath, 'utf8');
    } catch (err) {
      throw usage(`--scenario: cannot read "${scenarioPath}": ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    try {
      scenario = parseScenario(text);
    } catch (err) {
      throw usage(`--scenario ${scenarioPath}: ${(err as Error).message}`);
    }
  }

  const truthPath = str('truth');
  if (truthPath !== undefined) {
    try {
      await access(dirname(resolve(truthPath)), constants.W_OK);
    } catch {
      throw usage(`--truth: cannot write into the folder of "${truthPath}"`);
    }
  }

  const options: SimOptions = { mqttUrl };
  if (devices !== undefined) options.devices = devices;
  if (speed !== undefined) options.speed = speed;
  if (seed !== undefined) options.seed = seed;
  if (durationMs !== undefined) options.durationMs = durationMs;
  if (maxMessages !== undefined) options.maxMessages = maxMessages;
  if (scenario !== undefined) options.scenario = scenario;
  if (requestTimeoutMs !== undefined) options.requestTimeoutMs = requestTimeoutMs;
  if (lateWindowMs !== undefined) options.lateWindowMs = lateWindowMs;
  if (connections !== undefined) options.connections = connections;
  if (forever) options.reconnect = true;
  return { options, truthPath, logLevel: level, help: false };
}

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * `tkmprom simulate`: returns the exit status. Logs go to stdout as JSON lines. The environment
 * is not read; `io` lets tests capture the help and usage errors.
 */
export async function simulateCommand(
  args: string[],
  _env: NodeJS.ProcessEnv = process.env,
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = await parse(args);
  } catch (err) {
    if (isTkmpromError(err)) {
      io.stderr.write(`tkmprom simulate: ${err.message}\nRun 'tkmprom simulate --help' for the options.\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    io.stdout.write(SIMULATE_HELP);
    return 0;
  }

  const logger = createLogger(parsed.logLevel);
  const options = { ...parsed.options, logger };
  let handle: Awaited<ReturnType<typeof startSimulation>>;
  try {
    handle = await startSimulation(options);
  } catch (err) {
    if (isTkmpromError(err) && err.code === ErrorCodes.BROKER_UNREACHABLE) {
      // One line and the fix, no stack: the usual cause is a broker not started yet.
      const fix = /credentials/.test(err.message)
        ? 'give the user name and password in --mqtt-url (mqtt://USER:PASSWORD@HOST:PORT)'
        : 'start a broker there (tkmprom broker) or point --mqtt-url at a running one';
      io.stderr.write(`tkmprom simulate: --mqtt-url: ${err.message}; ${fix} [${err.code}]\n`);
      return 1;
    }
    if (isTkmpromError(err)) {
      io.stderr.write(`tkmprom simulate: ${err.message} [${err.code}]\n`);
      return err.code === ErrorCodes.SCENARIO_INVALID ? 2 : 1;
    }
    logger.error({ err }, (err as Error).message);
    return err instanceof RangeError ? 2 : 1;
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      logger.info({ signal }, 'stopping: no new requests; ending once every request has its outcome');
      void handle.stop();
    } else {
      logger.info({ signal }, 'stopping at once');
      void handle.stop({ immediate: true });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const truth = await handle.done;
    if (parsed.truthPath !== undefined) {
      try {
        await writeFile(parsed.truthPath, `${JSON.stringify(truth, null, 2)}\n`);
        logger.info({ path: parsed.truthPath }, 'truth written');
      } catch (err) {
        logger.error({ err, path: parsed.truthPath }, 'cannot write the truth');
        return 1;
      }
    }
    const s = handle.stats();
    logger.info(
      { messages: s.messages, perSecond: Math.round(s.perSecond), elapsedS: Math.round(s.elapsedMs) / 1000 },
      'summary',
    );
    return 0;
  } catch (err) {
    logger.error({ err }, 'simulation failed');
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
