import { randomBytes } from 'node:crypto';
import { hostPortSchema, natsServerConfig } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { parseFlags } from './args.js';

export const NATS_CONFIG_HELP = `Usage: tkmprom nats-config --partitions N [options]

Prints a complete nats-server configuration for tkmprom scaled out over N exporters: JetStream,
the MQTT listener the fleet connects to, the fleet's account and tkmprom's, the import that
partitions the fleet's topics by device. README "Scaling out" explains each part.

Options:
  --partitions N          exporters the fleet is split over (1 to 1024)
  --listen HOST:PORT      NATS client listener (default 127.0.0.1:4222)
  --mqtt-listen HOST:PORT MQTT listener for the fleet (default 0.0.0.0:1883)
  --store-dir DIR         JetStream storage (default /var/lib/nats/jetstream)
  --server-name NAME      server name (default tkmprom-nats)
  -h, --help              show this help

The password of the "tkmprom" user is TKMPROM_NATS_PASSWORD when set, else a random one,
written to the configuration (give it to tkmprom as TKMPROM_NATS_PASSWORD).
`;

function usage(message: string): TkmpromError {
  return new TkmpromError(ErrorCodes.CLI_USAGE, `${message} (see tkmprom nats-config --help)`);
}

/** The configuration text for these arguments. */
export function natsConfigText(args: string[], env: NodeJS.ProcessEnv): string | 'help' {
  const { values } = parseFlags(args, {
    partitions: { type: 'string' },
    listen: { type: 'string' },
    'mqtt-listen': { type: 'string' },
    'store-dir': { type: 'string' },
    'server-name': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  const partitionsText = values.partitions as string | undefined;
  if (partitionsText === undefined) throw usage('--partitions: missing; give the number of exporters');
  const partitions = Number(partitionsText);
  if (!/^\d+$/.test(partitionsText) || partitions < 1 || partitions > 1024) {
    throw usage(`--partitions: expected a whole number from 1 to 1024, got "${partitionsText}"`);
  }
  const hostPort = (flag: string, text: string) => {
    const r = hostPortSchema('127.0.0.1:4222').safeParse(text);
    if (!r.success) throw usage(`--${flag}: expected HOST:PORT such as 127.0.0.1:4222, got "${text}"`);
    return r.data;
  };
  const password = env.TKMPROM_NATS_PASSWORD || randomBytes(18).toString('base64url');
  if (!/^[A-Za-z0-9._~+-]+$/.test(password)) {
    throw new TkmpromError(
      ErrorCodes.CONFIG_INVALID,
      'TKMPROM_NATS_PASSWORD: use letters, digits and . _ ~ + - only, so that it fits into a nats:// URL unescaped',
    );
  }
  return natsServerConfig({
    partitions,
    listen: hostPort('listen', (values.listen as string | undefined) ?? '127.0.0.1:4222'),
    mqttListen: hostPort('mqtt-listen', (values['mqtt-listen'] as string | undefined) ?? '0.0.0.0:1883'),
    storeDir: (values['store-dir'] as string | undefined) ?? '/var/lib/nats/jetstream',
    password,
    serverName: (values['server-name'] as string | undefined) ?? 'tkmprom-nats',
  });
}

export async function natsConfigCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const text = natsConfigText(args, env);
  process.stdout.write(text === 'help' ? NATS_CONFIG_HELP : text);
  return 0;
}
