import { readFileSync } from 'node:fs';
import type { Server as TlsServer } from 'node:https';
import type { Config } from '../config/index.js';
import { loadConfig, settingName } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { Exporter, replaysExactly, STATE_VERSION, stateFingerprint } from '../exporter.js';
import {
  createHttpMetrics,
  loadWebConfig,
  startHttpServer,
  watchCertificates,
  webAuthorizer,
} from '../http/index.js';
import { createLogger, type Logger } from '../log.js';
import { MqttSource, type NatsPosition, NatsSource, redact, type Source } from '../source/index.js';
import { StateKeeper, StateRestoreAborted } from '../state/index.js';
import { brokerOptions } from './broker-options.js';
import { parseFlags, settingFlags, settingsHelp } from './args.js';

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
  const { values } = parseFlags(args, {
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
export async function startExporter(config: Config, logger: Logger): Promise<RunningExporter> {
  // Errors name each setting as the user gave it: its flag (as this command spells it), its
  // environment variable, or its key in the file.
  const brokerSettingName = (key: keyof Config['broker']) =>
    settingName(config, key === 'listen' ? 'embeddedBroker' : `broker.${key}`);
  // Everything that can fail on configuration alone fails before anything is started.
  const token =
    config.api.tokenFile === undefined
      ? undefined
      : readToken(config.api.tokenFile, settingName(config, 'api.tokenFile'));
  const web = config.http.webConfigFile === undefined ? undefined : loadWebConfig(config.http.webConfigFile);
  const embeddedBroker =
    config.embeddedBroker === undefined
      ? undefined
      : brokerOptions(config.broker, config.embeddedBroker, brokerSettingName);
  let nats: NatsSource | undefined;
  const { exporter, keeper, position } = restoredExporter(config, logger, () => nats);
  if (
    embeddedBroker === undefined &&
    config.source.nats.url !== undefined &&
    config.source.nats.partition !== undefined
  ) {
    // Made before the exporter's first sweep, which it tells to wait for the stream's time.
    const n = config.source.nats;
    nats = new NatsSource({ ...n, partition: n.partition!, partitions: n.partitions! }, exporter, logger, {
      exact: replaysExactly(config),
      position,
      ackWaitMs: 3 * config.state.interval,
    });
  }
  const { apiRoutes } = await import('../http/index.js');
  const routes = apiRoutes(exporter.view, { token, basicAuth: web?.users !== undefined });
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
  } else if (nats !== undefined) {
    source = nats;
  } else {
    source = new MqttSource(config.mqtt, exporter, logger, config.limits);
  }
  const http = await startHttpServer({
    host: config.listen.host,
    port: config.listen.port,
    optionName: settingName(config, 'listen'),
    registry: exporter.registry,
    ready: () => source.ready,
    notReadyReason: () => source.notReadyReason,
    metricsWithheld: () => source.metricsWithheld,
    catchUp: () => source.catchUp?.() ?? Promise.resolve(),
    logger,
    routes,
    tls: web?.tls,
    authorize: web && webAuthorizer(web, { tokenOpensApi: token !== undefined }),
    limits: config.http,
    metrics: createHttpMetrics(exporter.registry),
  }).catch(async (err) => {
    await stopBroker?.();
    exporter.stop();
    throw err;
  });
  const certificates =
    web?.tls === undefined ? undefined : watchCertificates(web, http.server as TlsServer, logger);
  await source.start().catch(async (err) => {
    certificates?.stop();
    await http.close();
    exporter.stop();
    throw err;
  });
  keeper?.start();
  logger.info(
    {
      metrics: `${http.url}/metrics`,
      ...(web && { tls: web.tls !== undefined, basicAuthUsers: web.users?.users.length ?? 0 }),
      source: config.embeddedBroker
        ? 'embedded'
        : config.source.nats.partition !== undefined
          ? `nats partition ${config.source.nats.partition}/${config.source.nats.partitions}`
          : redact(config.mqtt.url),
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
      certificates?.stop();
      await http.close();
      await stopBroker?.();
      exporter.stop();
    },
  };
}

/**
 * The exporter, with its state restored from `state.dir` when there is one. A snapshot that
 * fails midway is set aside and the exporter starts anew: half a state is worse than none. For a
 * source that replays exactly (`replaysExactly`), the snapshot also holds the source's position,
 * returned here, and the source holds its messages while a snapshot is written.
 */
function restoredExporter(
  config: Config,
  logger: Logger,
  nats: () => NatsSource | undefined,
): { exporter: Exporter; keeper: StateKeeper | undefined; position: NatsPosition | undefined } {
  const exactReplay = replaysExactly(config);
  let exporter = new Exporter({ config, logger, exactReplay });
  if (config.state.dir === undefined) return { exporter, keeper: undefined, position: undefined };
  let position: NatsPosition | undefined;
  const keeper = new StateKeeper({
    dir: config.state.dir,
    version: STATE_VERSION,
    fingerprint: stateFingerprint(config),
    records: () => withSourceRecords(exporter.stateRecords(), nats()),
    intervalMs: config.state.interval,
    logger,
    ...(exactReplay && {
      beforeSnapshot: () => {
        nats()?.pause();
        exporter.freeze();
      },
      afterSnapshot: (written: boolean) => {
        exporter.thaw();
        nats()?.resume(written);
      },
    }),
  });
  try {
    keeper.restore((record) => {
      if (record[0] !== 'nats') return exporter.restoreRecord(record);
      if (exactReplay) position = natsPosition(record[1]);
    });
    exporter.finishRestore();
  } catch (err) {
    if (!(err instanceof StateRestoreAborted)) throw err;
    exporter.stop();
    exporter = new Exporter({ config, logger, exactReplay });
    position = undefined;
  }
  return { exporter, keeper, position };
}

function* withSourceRecords(
  records: Iterable<readonly [string, unknown]>,
  nats: NatsSource | undefined,
): Generator<readonly [string, unknown]> {
  yield* records;
  if (nats !== undefined) yield* nats.stateRecords();
}

function natsPosition(value: unknown): NatsPosition {
  const p = value as Partial<NatsPosition>;
  if (typeof p?.floor !== 'number' || !Number.isSafeInteger(p.floor) || p.floor < 0 || !Array.isArray(p.done))
    throw new TypeError('nats: expected a stream sequence and the sequences handed on past it');
  return p as NatsPosition;
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

function readToken(file: string, name: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new TkmpromError(
      ErrorCodes.CONFIG_INVALID,
      `${name}: cannot read the API token file ${file} (${why}); give the path of a readable file holding the token`,
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
