import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest, SETTINGS } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags of the exporter's settings, from the one table in config/load.ts. */
export function settingFlags(): Options {
  const options: Options = {};
  for (const s of SETTINGS) if (s.flag !== undefined && !s.brokerOnly) options[s.flag] = { type: 'string' };
  return options;
}

export function settingsHelp(indent = '  '): string {
  const rows = [
    ['--config FILE', 'YAML config file (or TKMPROM_CONFIG)'],
    ...SETTINGS.filter((s) => s.flag !== undefined && !s.brokerOnly).map((s) => [
      `--${s.flag} ${s.kind === 'boolean' ? 'true|false' : valueName(s.path)}`,
      s.help,
    ]),
    ['-h, --help', 'show this help'],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  return rows.map(([flag, help]) => `${indent}${flag!.padEnd(width)}${help}`).join('\n');
}

function valueName(path: string): string {
  if (/listen|Broker/.test(path)) return 'HOST:PORT';
  if (/Timeout|Window|window|keepalive|lateWindow/.test(path)) return 'DURATION';
  if (/max|Version|Rate/.test(path)) return 'N';
  if (/File|ca|cert|key/i.test(path)) return 'FILE';
  if (/url/.test(path)) return 'URL';
  return 'VALUE';
}

/**
 * parseArgs with every usage error a TkmpromError (TKM_CLI_USAGE) in plain words: an unknown
 * option with the closest known one (`unknown option --windw; did you mean --window?`), a missing
 * value, a value given to a switch, an argument where none is taken.
 */
export function parseFlags(args: string[], options: Options, { positionals = false } = {}) {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: Options; strict: true; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new TkmpromError(ErrorCodes.CLI_USAGE, usageMessage(err as Error & { code?: string }, options));
  }
  if (!positionals && parsed.positionals.length > 0) {
    throw new TkmpromError(ErrorCodes.CLI_USAGE, `unexpected argument "${parsed.positionals[0]}"`);
  }
  return parsed;
}

function usageMessage(err: Error & { code?: string }, options: Options): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (option === undefined) return err.message.replace(/\. To specify a positional argument.*$/s, '');
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const near = option.startsWith('--') ? closest(option.slice(2), Object.keys(options)) : undefined;
    return near === undefined
      ? `unknown option ${option}`
      : `unknown option ${option}; did you mean --${near}?`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return options[option.replace(/^-+/, '')]?.type === 'boolean' || /does not take/.test(err.message)
      ? `option ${option} takes no value`
      : `option ${option} needs a value`;
  }
  return err.message.replace(/\. To specify a positional argument.*$/s, '');
}
