#!/usr/bin/env node
import { ErrorCodes, isTkmpromError, TkmpromError } from '../errors.js';

const HELP = `tkmprom: Prometheus exporter for a TickrMeter fleet's MQTT traffic

Usage: tkmprom [command] [options]

Commands:
  run        (default) the exporter: MQTT in, /metrics, JSON API and status page out
  simulate   a simulated fleet and quote backend, with fault scenarios and ground truth
  broker     an MQTT broker for a small fleet (add-user manages its password file)
  demo       embedded broker + simulated fleet + exporter in one process
  nats-config  a nats-server configuration for tkmprom scaled out over N exporters
  keyer      republishes the fleet's device-keyed messages onto their partition (NATS)

'tkmprom <command> --help' shows the options of one command; all of them follow.
`;

type Command = (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).runCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  broker: async () => (await import('./broker.js')).brokerCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  'nats-config': async () => (await import('./nats-config.js')).natsConfigCommand,
  keyer: async () => (await import('./keyer.js')).keyerCommand,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(HELP);
    // Every subcommand's options too, so one page answers "what can it do".
    const helps = await Promise.all([
      import('./run.js').then((m) => m.RUN_HELP),
      import('./simulate.js').then((m) => m.SIMULATE_HELP),
      import('./broker.js').then((m) => m.BROKER_HELP),
      import('./demo.js').then((m) => m.DEMO_HELP),
      import('./nats-config.js').then((m) => m.NATS_CONFIG_HELP),
      import('./keyer.js').then((m) => m.KEYER_HELP),
    ]);
    for (const h of helps) process.stdout.write(`\n${h}`);
    return 0;
  }
  if (first === '--version') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  const named = first !== undefined && !first.startsWith('-') ? COMMANDS[first] : undefined;
  if (first !== undefined && !first.startsWith('-') && named === undefined) {
    const { closest } = await import('../config/index.js');
    const near = closest(first, Object.keys(COMMANDS));
    throw new TkmpromError(
      ErrorCodes.CLI_USAGE,
      `unknown command "${first}"${near === undefined ? '' : `; did you mean ${near}?`} (commands: ${Object.keys(COMMANDS).join(', ')})`,
    );
  }
  const command = await (named ?? COMMANDS.run!)();
  try {
    return await command(named ? rest : argv, env);
  } catch (err) {
    // Every usage error of `run` and `demo` points to the help of the command it came from.
    if (isTkmpromError(err) && err.code === ErrorCodes.CLI_USAGE) {
      err.message += ` (see tkmprom ${named ? first : 'run'} --help)`;
    }
    throw err;
  }
}

async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

// Run only as the program, not when imported by tests.
const invoked = process.argv[1] ?? '';
if (
  import.meta.url === `file://${invoked}` ||
  invoked.endsWith('/tkmprom') ||
  invoked.endsWith('cli/main.js') ||
  invoked.endsWith('cli/main.ts')
) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (isTkmpromError(err)) {
        process.stderr.write(`tkmprom: ${err.message} [${err.code}]\n`);
        process.exitCode = err.code === 'TKM_CLI_USAGE' ? 2 : 1;
      } else {
        process.stderr.write(`tkmprom: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
