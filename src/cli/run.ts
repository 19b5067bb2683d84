import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { loadConfig } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { Exporter, STATE_VERSION, stateFingerprint } from '../exporter.js';
import { startHttpServer } from '../http/index.js';
import { createLogger, type Logger } from '../log.js';
import { MqttSource, redact, type Source } from '../source/index.js';
import { StateKeeper, StateRestoreAborted } from '../state/index.js';
import { brokerOptions, runFlagName } from './broker-options.js';
import { parse, settingFlags, settingsHelp } from './args.js';

export const RUN_HELP = `Usage: tkmprom [run] [options]

Runs the exporter in the foreground: reads the fleet's MQTT traffic, serves /metrics,
/healthz and /readyz. Settings come from flags, then TKMPROM_* environment variables, then
the config file, then defaults (examples/tkmprom.yaml lists every setting).

Options:
${settingsHelp()}

Broker credentials come from the config file or TKMPROM_MQTT_USERNAME / TKMPROM_MQTT_PASSWORD,
never from the command line.
`;

/** Loads the configuration of `run` from argv and the environment. */
export function runConfig(args: string[], env: NodeJS.ProcessEnv): Config | 'help' {
  const { values } = parse(args, {
    ...settingFlags(),
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  return loadConfig({
    file: (values.config as string | undefined) ?? env.TKMPROM_CONFIG,
    env,
    flags: values as Record<string, string | boolean | undefined>,
  });
}

export interface RunningExporter {
  exporter: Exporter;
  url: string;
  logger: Logger;
  stop(): Promise<void>;
}

/** Starts the exporter with its source and HTTP server; the CLI and the demo both use it. */
export async function startExporter(
  config: Config,
  logger: Logger,
  /** How the command names the broker settings in errors: `run`'s flags unless told otherwise. */
  brokerSettingName: (key: keyof Config['broker']) => string = runFlagName,
): Promise<RunningExporter> {
  // Everything that can fail on configuration alone fails before anything is started.
  const token = config.api.tokenFile === undefined ? undefined : readToken(config.api.tokenFile);
  const embeddedBroker =
    config.embeddedBroker === undefined
      ? undefined
      : brokerOptions(config.broker, config.embeddedBroker, brokerSettingName);
  const { exporter, keeper } = restoredExporter(config, logger);
  const { apiRoutes } = await import('../http/index.js');
  const routes = apiRoutes(exporter, { token });
  exporter.start();
  let source: Source;
  let stopBroker: (() => Promise<void>) | undefined;
  if (embeddedBroker !== undefined) {
    const { startEmbeddedSource } = await import('../source/index.js');
    const listenerOption = (l: 'mqtt' | 'mqtts' | 'ws') =>
      brokerSettingName(l === 'mqtt' ? 'listen' : l === 'mqtts' ? 'tlsListen' : 'wsListen');
    const embedded = await startEmbeddedSource(embeddedBroker, exporter, logger, listenerOption).catch(
      (err) => {
        exporter.stop();
        throw err;
      },
    );
    source = embedded.source;
    stopBroker = embedded.stopBroker;
  } else {
    source = new MqttSource(config.mqtt, exporter, logger, config.limits);
  }
  const http = await startHttpServer({
    host: config.listen.host,
    port: config.listen.port,
    optionName: '--listen',
    registry: exporter.registry,
    ready: () => source.ready,
    notReadyReason: () => source.notReadyReason,
    catchUp: () => source.catchUp?.() ?? Promise.resolve(),
    logger,
    routes,
    limits: config.http,
    metrics: exporter.catalog,
  }).catch(async (err) => {
    await stopBroker?.();
    exporter.stop();
    throw err;
  });
  await source.start();
  keeper?.start();
  logger.info(
    {
      metrics: `${http.url}/metrics`,
      mqtt: config.embeddedBroker ? 'embedded' : redact(config.mqtt.url),
      requestTimeoutMs: config.correlation.requestTimeout,
    },
    'tkmprom exporter started',
  );
  return {
    exporter,
    url: http.url,
    logger,
    async stop() {
      await source.stop();
      // After the source, so the last snapshot holds every message read.
      await keeper?.stop();
      await http.close();
      await stopBroker?.();
      exporter.stop();
    },
  };
}

/**
 * The exporter, with its state restored from `state.dir` when there is one. A snapshot that
 * fails midway is set aside and the exporter starts anew: half a state is worse than none.
 */
function restoredExporter(
  config: Config,
  logger: Logger,
): { exporter: Exporter; keeper: StateKeeper | undefined } {
  let exporter = new Exporter({ config, logger });
  if (config.state.dir === undefined) return { exporter, keeper: undefined };
  const keeper = new StateKeeper({
    dir: config.state.dir,
    version: STATE_VERSION,
    fingerprint: stateFingerprint(config),
    records: () => exporter.stateRecords(),
    intervalMs: config.state.interval,
    logger,
  });
  try {
    keeper.restore((record) => exporter.restoreRecord(record));
  } catch (err) {
    if (!(err instanceof StateRestoreAborted)) throw err;
    exporter.stop();
    exporter = new Exporter({ config, logger });
  }
  return { exporter, keeper };
}

export async function runCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = runConfig(args, env);
  if (config === 'help') {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const logger = createLogger(config.log.level);
  const running = await startExporter(config, logger);
  await untilSignal();
  logger.info('stopping');
  await running.stop();
  logger.info('stopped');
  return 0;
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.CONFIG_INVALID,
      `api.tokenFile: cannot read ${file}: ${(err as Error).message}`,
    );
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
