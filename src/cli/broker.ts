import { parseArgs } from 'node:util';
import { BrokerListenError, type BrokerOptions, startBroker } from '../broker/broker.js';
import { addUser, isValidUsername } from '../broker/passwords.js';
import { parseDuration } from '../config/duration.js';
import { isTkmpromError } from '../errors.js';
import { createLogger, type LogLevel } from '../log.js';

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
  --acl-file FILE             per-user topic ACL (YAML); needs --password-file
  --max-connections N         refuse connections beyond N
  --drain-timeout DURATION    drop a subscriber whose socket stops draining for this long
                              (default 10s)
  --log-level LEVEL           fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help                  show this help

add-user creates or replaces NAME's line in the password file (scrypt hash, mode 0600). The
password comes from the environment variable TKMPROM_BROKER_PASSWORD or standard input,
never from the command line.
`;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LISTENER_OPTION = { mqtt: '--listen', mqtts: '--tls-listen', ws: '--ws-listen' } as const;

export interface BrokerCommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

class UsageError extends Error {}

/** `HOST:PORT`, `[v6]:PORT`; a usage error naming `option` otherwise. */
export function parseHostPort(text: string, option: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new UsageError(`${option}: expected HOST:PORT, got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

function positiveInt(text: string, option: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new UsageError(`${option}: expected a positive integer, got "${text}"`);
  }
  return Number(text);
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
    parsed = parseRunArgs(args);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return usage(io, (err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
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
    const message =
      err instanceof BrokerListenError ? `${LISTENER_OPTION[err.listener]}: ${err.message}` : err.message;
    logger.fatal({ code: err.code }, message);
    io.stderr.write(`tkmprom broker: ${message} [${err.code}]\n`);
    return 1;
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
      broker.close().then(
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

function parseRunArgs(args: string[]): 'help' | { options: BrokerOptions; logLevel: LogLevel } {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      'tls-listen': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-require-client-cert': { type: 'boolean' },
      'ws-listen': { type: 'string' },
      'ws-path': { type: 'string' },
      'data-dir': { type: 'string' },
      'password-file': { type: 'string' },
      'acl-file': { type: 'string' },
      'max-connections': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}" (the only subcommand is add-user)`);
  }

  const options: BrokerOptions = {};
  const listen = values.listen ?? '127.0.0.1:1883';
  if (listen !== 'off') options.listen = parseHostPort(listen, '--listen');

  const tlsListen = values['tls-listen'];
  if (tlsListen !== undefined) {
    const certFile = values['tls-cert'];
    const keyFile = values['tls-key'];
    if (certFile === undefined) throw new UsageError('--tls-listen needs --tls-cert');
    if (keyFile === undefined) throw new UsageError('--tls-listen needs --tls-key');
    options.tls = { ...parseHostPort(tlsListen, '--tls-listen'), certFile, keyFile };
    if (values['tls-ca'] !== undefined) options.tls.caFile = values['tls-ca'];
    if (values['tls-require-client-cert']) {
      if (values['tls-ca'] === undefined) throw new UsageError('--tls-require-client-cert needs --tls-ca');
      options.tls.requestCert = true;
    }
  } else {
    for (const name of ['tls-cert', 'tls-key', 'tls-ca', 'tls-require-client-cert'] as const) {
      if (values[name] !== undefined) throw new UsageError(`--${name} needs --tls-listen`);
    }
  }

  const wsListen = values['ws-listen'];
  if (wsListen !== undefined) {
    options.websocket = parseHostPort(wsListen, '--ws-listen');
    const wsPath = values['ws-path'];
    if (wsPath !== undefined) {
      if (!wsPath.startsWith('/'))
        throw new UsageError(`--ws-path: expected a path starting with "/", got "${wsPath}"`);
      options.websocket.path = wsPath;
    }
  } else if (values['ws-path'] !== undefined) {
    throw new UsageError('--ws-path needs --ws-listen');
  }
  if (!options.listen && !options.tls && !options.websocket) {
    throw new UsageError('--listen off leaves no listener: add --tls-listen or --ws-listen');
  }

  if (values['data-dir'] !== undefined) options.dataDir = values['data-dir'];
  if (values['password-file'] !== undefined) options.passwordFile = values['password-file'];
  if (values['acl-file'] !== undefined) {
    if (options.passwordFile === undefined) throw new UsageError('--acl-file needs --password-file');
    options.aclFile = values['acl-file'];
  }
  if (values['max-connections'] !== undefined) {
    options.maxConnections = positiveInt(values['max-connections'], '--max-connections');
  }
  if (values['drain-timeout'] !== undefined) {
    const ms = parseDuration(values['drain-timeout']);
    if (ms === undefined || ms < 1) {
      throw new UsageError(
        `--drain-timeout: expected a duration like 10s or 500ms, got "${values['drain-timeout']}"`,
      );
    }
    options.drainTimeoutMs = ms;
  }
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  return { options, logLevel };
}

async function addUserCommand(args: string[], env: NodeJS.ProcessEnv, io: BrokerCommandIo): Promise<number> {
  let values: { 'password-file'?: string; username?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        'password-file': { type: 'string' },
        username: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usage(
      io,
      `add-user: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`,
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
