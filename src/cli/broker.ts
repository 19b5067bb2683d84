import { BrokerListenError, type BrokerOptions, type EmbeddedBroker, startBroker } from '../broker/index.js';
import { registerBrokerMetrics } from '../broker/index.js';
import { addUser, isValidUsername } from '../broker/index.js';
import { loadConfig, settingName } from '../config/index.js';
import type { Config, HostPort } from '../config/index.js';
import { ErrorCodes, isTkmpromError, TkmpromError } from '../errors.js';
import { registerProcessMetrics } from '../export/index.js';
import { Registry } from '../export/index.js';
import { type HttpServer, startHttpServer } from '../http/index.js';
import { createLogger, type Logger, type LogLevel } from '../log.js';
import { parseFlags } from './args.js';
import { brokerOptions } from './broker-options.js';

export const BROKER_HELP = `Usage: tkmprom broker [options]
       tkmprom broker add-user --password-file FILE --username NAME

Runs an MQTT 3.1.1 broker for a small TickrMeter fleet in the foreground, logging JSON lines
on stdout. SIGINT or SIGTERM stops it cleanly; SIGHUP re-reads the password and ACL files.

Options:
  --listen HOST:PORT          plain MQTT listener (default 127.0.0.1:1883; "off" disables it)
  --tls-listen HOST:PORT      MQTT over TLS listener; needs --tls-cert and --tls-key
  --tls-cert FILE             PEM certificate (with chain) for --tls-listen
  --tls-key FILE              PEM private key for --tls-listen
  --tls-ca FILE               PEM CA bundle for verifying client certificates
  --tls-require-client-cert   refuse TLS clients without a certificate signed by --tls-ca
  --ws-listen HOST:PORT       MQTT over WebSocket listener
  --ws-path PATH              accept WebSocket upgrades only on PATH (default: any path)
  --data-dir DIR              keep retained messages, sessions and wills in LevelDB in DIR
                              (default: in memory, lost on exit)
  --password-file FILE        require a username and password; manage it with add-user
  --acl-file FILE             topic ACL (YAML): per user with --password-file, else the
                              rules for anonymous clients
  --max-connections N         refuse connections beyond N
  --drain-timeout DURATION    drop a subscriber whose socket stops draining for this long
                              (default 10s)
  --sys-interval DURATION     publish the $SYS/broker/... topics this often (default 10s;
                              0s for none)
  --http-listen HOST:PORT     serve /metrics (the broker's own series) and /healthz here
  --config FILE               YAML config file (or TKMPROM_CONFIG): its \`broker:\` section
  --log-level LEVEL           fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help                  show this help

Every option is also a setting of the config file's \`broker:\` section (--tls-listen is
broker.tlsListen) and an environment variable (TKMPROM_BROKER_TLS_LISTEN); flags win over the
environment, which wins over the file. \`tkmprom run --embedded-broker\` and \`tkmprom demo\`
take the same section, as --broker-tls-listen and so on.

add-user creates or replaces NAME's line in the password file (scrypt hash, mode 0600). The
password comes from the environment variable TKMPROM_BROKER_PASSWORD or standard input,
never from the command line.
`;

export interface BrokerCommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

function usage(io: BrokerCommandIo, message: string): number {
  io.stderr.write(`tkmprom broker: ${message}\nRun "tkmprom broker --help" for usage.\n`);
  return 2;
}

const defaultIo = (): BrokerCommandIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});

export async function brokerCommand(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: BrokerCommandIo = defaultIo(),
): Promise<number> {
  if (args[0] === 'add-user') return addUserCommand(args.slice(1), env, io);

  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    parsed = parseRunArgs(args, env);
  } catch (err) {
    if (isTkmpromError(err) && err.code === ErrorCodes.CLI_USAGE) return usage(io, err.message);
    if (isTkmpromError(err)) {
      io.stderr.write(`tkmprom broker: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
  if (parsed === 'help') {
    io.stdout.write(BROKER_HELP);
    return 0;
  }

  const logger = createLogger(parsed.logLevel);
  let broker: Awaited<ReturnType<typeof startBroker>>;
  try {
    broker = await startBroker({ ...parsed.options, logger });
  } catch (err) {
    if (!isTkmpromError(err)) throw err;
    let message = err.message;
    if (err instanceof BrokerListenError) {
      const option = parsed.listenerName(err.listener);
      message = `${option}: ${err.message}`;
      if (err.code === ErrorCodes.LISTEN_ADDRESS_IN_USE) message += `; pick another port for ${option}`;
    }
    logger.fatal({ code: err.code }, message);
    io.stderr.write(`tkmprom broker: ${message} [${err.code}]\n`);
    return 1;
  }
  let http: HttpServer | undefined;
  if (parsed.http !== undefined) {
    try {
      http = await brokerHttp(broker, parsed.http, parsed.httpName, logger);
    } catch (err) {
      await broker.close();
      if (!isTkmpromError(err)) throw err;
      io.stderr.write(`tkmprom broker: ${err.message} [${err.code}]\n`);
      return 1;
    }
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const finish = (code: number) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', reload);
      resolve(code);
    };
    function stop(signal: NodeJS.Signals) {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without waiting for the broker to close');
        finish(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      Promise.all([broker.close(), http?.close()]).then(
        () => finish(0),
        (err: unknown) => {
          logger.error({ err }, 'broker did not close cleanly');
          finish(1);
        },
      );
    }
    function reload() {
      broker.reloadAuth().catch((err: unknown) => {
        logger.error(
          { err: (err as Error).message },
          'reload failed; the previous password and ACL files stay',
        );
      });
    }
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', reload);
  });
}

/** `/metrics` (the broker's own series and the process's) and `/healthz`, as a broker operator expects. */
async function brokerHttp(
  broker: EmbeddedBroker,
  at: HostPort,
  optionName: string,
  logger: Logger,
): Promise<HttpServer> {
  const registry = new Registry();
  registerBrokerMetrics(registry, broker);
  registerProcessMetrics(registry);
  const http = await startHttpServer({
    ...at,
    optionName,
    registry,
    ready: () => true,
    logger,
  });
  logger.info({ metrics: `${http.url}/metrics` }, 'broker HTTP listening');
  return http;
}

/** `tkmprom broker`'s flags, and the settings of the config's `broker` section they set. */
const BROKER_FLAGS = {
  listen: 'broker-listen',
  'tls-listen': 'broker-tls-listen',
  'tls-cert': 'broker-tls-cert',
  'tls-key': 'broker-tls-key',
  'tls-ca': 'broker-tls-ca',
  'tls-require-client-cert': 'broker-tls-require-client-cert',
  'ws-listen': 'broker-ws-listen',
  'ws-path': 'broker-ws-path',
  'data-dir': 'broker-data-dir',
  'password-file': 'broker-password-file',
  'acl-file': 'broker-acl-file',
  'max-connections': 'broker-max-connections',
  'drain-timeout': 'broker-drain-timeout',
  'sys-interval': 'broker-sys-interval',
  'http-listen': 'broker-http-listen',
} as const;

const FLAG_NAMES: Record<string, string> = Object.fromEntries(
  Object.entries(BROKER_FLAGS).map(([own, setting]) => [setting, `--${own}`]),
);

interface BrokerRun {
  options: BrokerOptions;
  logLevel: LogLevel;
  http: HostPort | undefined;
  /** `--http-listen`, or the variable or file key that set it: for a taken port. */
  httpName: string;
  /** Likewise for each MQTT listener. */
  listenerName: (listener: 'mqtt' | 'mqtts' | 'ws') => string;
}

/**
 * Flags, `TKMPROM_BROKER_*` variables and the config file's `broker` section, through the same
 * loader as the exporter's settings: HOST:PORT, durations and numbers are parsed once, there.
 */
function parseRunArgs(args: string[], env: NodeJS.ProcessEnv): 'help' | BrokerRun {
  const parsed = parseFlags(
    args,
    {
      ...Object.fromEntries(
        Object.keys(BROKER_FLAGS).map((f) => [
          f,
          { type: f === 'tls-require-client-cert' ? ('boolean' as const) : ('string' as const) },
        ]),
      ),
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    { positionals: true },
  );
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const positionals = parsed.positionals;
  if (values.help) return 'help';
  if (positionals.length > 0) {
    throw new TkmpromError(
      ErrorCodes.CLI_USAGE,
      `unexpected argument "${positionals[0]}" (the only subcommand is add-user)`,
    );
  }
  const flags: Record<string, string | boolean | undefined> = {
    'log-level': values['log-level'] as string | undefined,
  };
  for (const [own, setting] of Object.entries(BROKER_FLAGS)) flags[setting] = values[own];
  const config = loadConfig({
    file: (values.config as string | undefined) ?? env.TKMPROM_CONFIG,
    env,
    flags,
    flagNames: { ...FLAG_NAMES, 'log-level': '--log-level' },
  });
  const b = config.broker;
  const name = (key: keyof Config['broker']) => settingName(config, `broker.${key}`);
  const options = brokerOptions(b, b.listen === 'off' ? undefined : b.listen, name);
  const listeners = { mqtt: 'listen', mqtts: 'tlsListen', ws: 'wsListen' } as const;
  return {
    options,
    logLevel: config.log.level,
    http: b.httpListen,
    httpName: name('httpListen'),
    listenerName: (l) => name(listeners[l]),
  };
}

async function addUserCommand(args: string[], env: NodeJS.ProcessEnv, io: BrokerCommandIo): Promise<number> {
  let values: { 'password-file'?: string; username?: string; help?: boolean };
  try {
    ({ values } = parseFlags(args, {
      'password-file': { type: 'string' },
      username: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }) as { values: typeof values });
  } catch (err) {
    if (!isTkmpromError(err)) throw err;
    const password = args.some((a) => a === '--password' || a.startsWith('--password='));
    return usage(
      io,
      `add-user: ${err.message}${password ? ' (the password comes from TKMPROM_BROKER_PASSWORD or standard input, never from the command line)' : ''}`,
    );
  }
  if (values.help) {
    io.stdout.write(BROKER_HELP);
    return 0;
  }
  const file = values['password-file'];
  const username = values.username;
  if (file === undefined) return usage(io, 'add-user: --password-file is required');
  if (username === undefined) return usage(io, 'add-user: --username is required');
  if (!isValidUsername(username)) {
    return usage(io, `add-user: --username: "${username}" must be non-empty and contain no spaces or ":"`);
  }

  let password: string | undefined = env.TKMPROM_BROKER_PASSWORD;
  if (password === undefined) {
    const read = io.stdin.isTTY ? await promptPassword(io) : stripNewline(await readAll(io.stdin));
    if (read === undefined) return 130;
    if (read === null) {
      io.stderr.write('tkmprom broker: add-user: the passwords do not match; nothing written\n');
      return 1;
    }
    password = read;
  }
  if (password.length === 0) {
    return usage(io, 'add-user: the password is empty (set TKMPROM_BROKER_PASSWORD or pipe it on stdin)');
  }
  try {
    await addUser(file, username, password);
  } catch (err) {
    if (!isTkmpromError(err)) throw err;
    io.stderr.write(`tkmprom broker: ${err.message} [${err.code}]\n`);
    return 1;
  }
  io.stdout.write(`user "${username}" written to ${file}\n`);
  return 0;
}

function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks twice without echo; undefined when the user presses Ctrl-C, null when the two differ. */
async function promptPassword(io: BrokerCommandIo): Promise<string | undefined | null> {
  const first = await readHiddenLine(io, 'Password: ');
  if (first === undefined) return undefined;
  const second = await readHiddenLine(io, 'Repeat password: ');
  if (second === undefined) return undefined;
  return first === second ? first : null;
}

function readHiddenLine(io: BrokerCommandIo, prompt: string): Promise<string | undefined> {
  const stdin = io.stdin;
  io.stderr.write(prompt);
  stdin.setRawMode?.(true);
  stdin.resume();
  return new Promise((resolve) => {
    let line = '';
    const done = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      resolve(value);
    };
    const onData = (data: Buffer | string) => {
      for (const ch of data.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(line);
        if (ch === '\u0003') return done(undefined);
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on('data', onData);
  });
}
