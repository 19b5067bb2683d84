import { loadConfig } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { startKeyer } from '../keyer/index.js';
import { createLogger } from '../log.js';
import { parseFlags } from './args.js';
import { untilSignal } from './run.js';

export const KEYER_HELP = `Usage: tkmprom keyer --nats-url URL --partitions N [options]

Reads the fleet's messages that name their device in the payload (quote requests, heartbeats,
boots, DEVICE_BOOTED, HTTPSTREAMSTOCKS) from the JetStream stream and republishes each to its device's
partition, with the time nats-server received it. Run any number: they share one
durable consumer. Creates the stream when missing. README "Scaling out".

Options:
  --nats-url URL          NATS server (nats://HOST:PORT), account of user tkmprom
  --partitions N          partitions, as in tkmprom nats-config
  --nats-stream NAME      the JetStream stream (default TKM)
  --config FILE           YAML config file (source.nats, limits.maxPayloadBytes, log.level)
  --log-level L           fatal, error, warn, info (default), debug, trace, silent
  -h, --help              show this help

The password comes from TKMPROM_NATS_PASSWORD or the config file, never from the command line.
`;

export async function keyerCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseFlags(args, {
    'nats-url': { type: 'string' },
    partitions: { type: 'string' },
    'nats-stream': { type: 'string' },
    'log-level': { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(KEYER_HELP);
    return 0;
  }
  const config = loadConfig({
    file: (values.config as string | undefined) ?? env.TKMPROM_CONFIG,
    env,
    flags: values as Record<string, string | boolean | undefined>,
  });
  const nats = config.source.nats;
  if (nats.url === undefined) {
    throw new TkmpromError(
      ErrorCodes.CLI_USAGE,
      '--nats-url: missing; give the NATS server, nats://HOST:PORT',
    );
  }
  if (nats.partitions === undefined) {
    throw new TkmpromError(ErrorCodes.CLI_USAGE, '--partitions: missing; give the number of partitions N');
  }
  const logger = createLogger(config.log.level, 'tkmprom-keyer');
  const keyer = await startKeyer({
    nats,
    partitions: nats.partitions,
    stream: { name: nats.stream, maxAgeMs: nats.maxAge, replicas: nats.replicas },
    maxPayloadBytes: config.limits.maxPayloadBytes,
    logger,
  });
  await untilSignal();
  logger.info({ keyed: keyer.keyed }, 'stopping');
  await keyer.stop();
  return 0;
}
