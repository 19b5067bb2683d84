import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SETTINGS } from '../config/index.js';
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

/** parseArgs with usage errors turned into TkmpromError naming the option. */
export function parse(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new TkmpromError(ErrorCodes.CLI_USAGE, `${msg} (see --help)`);
  }
}
