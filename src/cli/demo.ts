import { parseDuration } from '../config/index.js';
import { loadConfig, SETTINGS } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { createLogger, type Logger, type LogLevel } from '../log.js';
import { parseFlags } from './args.js';
import { type RunningExporter, startExporter, untilSignal } from './run.js';

export const DEMO_HELP = `Usage: tkmprom demo [options]

Runs an embedded MQTT broker, a simulated fleet with its quote backend, and the exporter in one
process. Built-in faults: TSLA answers in about 4 s, and the coingecko stream (the crypto pairs
such as BTC/USD) answers nothing. Within a minute the ranking shows TSLA first and the crypto
pairs time out.

Options:
  --listen HOST:PORT         status page, API and /metrics (default 127.0.0.1:9883)
  --broker-listen HOST:PORT  the embedded broker, for any MQTT client (default 127.0.0.1:1884)
  --devices N                simulated devices (default 300)
  --speed X                  time compression of device behaviour (default 20)
  --seed N                   reproducible fleet (default 1)
  --duration D               stop after this long (default: run until Ctrl-C)
  --state-dir DIR            keep the demo's fleet, windows and trends across restarts
                             (default .tkmprom-data/demo-state; "" for none)
  --log-level L              (default warn: the demo prints its own summary)
  --web.config.file FILE     TLS and basic auth of the exporter's HTTP server (README
                             "Securing the endpoints")
  -h, --help                 show this help

The embedded broker takes the settings of \`tkmprom broker\` as \`run\` spells them
(--broker-data-dir, --broker-ws-listen, --broker-tls-listen, ...; see \`tkmprom run --help\`),
but no password file or ACL: the simulated fleet connects without credentials.
`;

/** The broker settings the demo passes on: all of `run`'s but the ones the simulated fleet cannot pass. */
const DEMO_BROKER_FLAGS = SETTINGS.filter(
  (s) =>
    s.flag !== undefined &&
    s.path.startsWith('broker.') &&
    !s.brokerOnly &&
    s.path !== 'broker.passwordFile' &&
    s.path !== 'broker.aclFile',
).map((s) => s.flag!);

export interface DemoOptions {
  listen: string;
  brokerListen: string;
  devices: number;
  speed: number;
  seed: number;
  logLevel: LogLevel;
  /** Where the exporter keeps its state; undefined for none. */
  stateDir?: string;
  /** The exporter-toolkit web configuration of the HTTP server. */
  webConfigFile?: string;
  /** Settings of the embedded broker, by `run`'s flag names (`broker-data-dir`: DIR). */
  broker?: Record<string, string>;
}

export interface RunningDemo {
  exporter: RunningExporter;
  brokerUrl: string;
  stop(): Promise<void>;
}

/** Broker, exporter and simulated fleet in this process; the simulation connects over loopback. */
export async function startDemo(opts: DemoOptions, logger: Logger): Promise<RunningDemo> {
  const { DEMO_SCENARIO, startSimulation, streamMappingRules } = await import('../sim/index.js');
  const config = loadConfig({
    flags: {
      listen: opts.listen,
      'embedded-broker': opts.brokerListen,
      'log-level': opts.logLevel,
      'state-dir': opts.stateDir,
      'web.config.file': opts.webConfigFile,
      ...opts.broker,
    },
    // The embedded broker's address is the demo's --broker-listen.
    flagNames: { 'embedded-broker': '--broker-listen' },
  });
  config.streams.rules = streamMappingRules();
  const exporter = await startExporter(config, logger);
  const broker = config.embeddedBroker!;
  const brokerHost = broker.host === '0.0.0.0' ? '127.0.0.1' : broker.host;
  const brokerUrl = `mqtt://${brokerHost.includes(':') ? `[${brokerHost}]` : brokerHost}:${broker.port}`;
  const sim = await startSimulation({
    mqttUrl: brokerUrl,
    devices: opts.devices,
    speed: opts.speed,
    seed: opts.seed,
    scenario: DEMO_SCENARIO,
    requestTimeoutMs: config.correlation.requestTimeout,
    reconnect: true,
    logger,
  }).catch(async (err) => {
    await exporter.stop();
    throw err;
  });
  return {
    exporter,
    brokerUrl,
    async stop() {
      await sim.stop({ immediate: true }).catch(() => undefined);
      await exporter.stop();
    },
  };
}

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    listen: { type: 'string' },
    'broker-listen': { type: 'string' },
    devices: { type: 'string' },
    speed: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    'state-dir': { type: 'string' },
    'log-level': { type: 'string' },
    'web.config.file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(DEMO_BROKER_FLAGS.map((f) => [f, { type: 'string' as const }])),
  });
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const number = (name: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      throw new TkmpromError(ErrorCodes.CLI_USAGE, `--${name}: expected a positive number, got "${v}"`);
    }
    return n;
  };
  const opts: DemoOptions = {
    listen: (values.listen as string | undefined) ?? '127.0.0.1:9883',
    brokerListen: (values['broker-listen'] as string | undefined) ?? '127.0.0.1:1884',
    devices: Math.round(number('devices', values.devices as string | undefined, 300)),
    speed: number('speed', values.speed as string | undefined, 20),
    seed: Math.round(number('seed', values.seed as string | undefined, 1)),
    logLevel: ((values['log-level'] as string | undefined) ?? 'warn') as LogLevel,
    stateDir: ((values['state-dir'] as string | undefined) ?? '.tkmprom-data/demo-state') || undefined,
    webConfigFile: values['web.config.file'] as string | undefined,
    broker: Object.fromEntries(
      DEMO_BROKER_FLAGS.filter((f) => values[f] !== undefined).map((f) => [f, values[f] as string]),
    ),
  };
  let durationMs: number | undefined;
  if (values.duration !== undefined) {
    durationMs = parseDuration(values.duration as string);
    if (durationMs === undefined) {
      throw new TkmpromError(
        ErrorCodes.CLI_USAGE,
        `--duration: expected a duration such as 90s or 5m, got "${values.duration}"`,
      );
    }
  }
  const logger = createLogger(opts.logLevel);
  const demo = await startDemo(opts, logger);
  const url = demo.exporter.url;
  process.stdout.write(
    [
      '',
      'tkmprom demo is running:',
      `  status page   ${url}/`,
      `  metrics       ${url}/metrics`,
      `  JSON API      ${url}/api/v1/stats`,
      `  MQTT broker   ${demo.brokerUrl}   (e.g. mosquitto_sub -h ${new URL(demo.brokerUrl).hostname} -p ${new URL(demo.brokerUrl).port} -t '#' -v)`,
      '',
      `  ${opts.devices} simulated devices at ${opts.speed}x; TSLA answers in ~4 s, the coingecko stream (crypto pairs) answers nothing.`,
      '  Within a minute TSLA tops tickrmeter_slowest_symbols_ranking. Ctrl-C stops.',
      '',
    ].join('\n'),
  );
  const stopAfter =
    durationMs === undefined
      ? undefined
      : new Promise<void>((resolve) => setTimeout(resolve, durationMs).unref());
  await (stopAfter ? Promise.race([untilSignal(), stopAfter]) : untilSignal());
  await demo.stop();
  return 0;
}
