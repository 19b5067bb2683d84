import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SIMULATE_HELP, simulateCommand } from './simulate.js';
import { freePort } from '../../test/helpers/mosquitto-unbounded.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tkmprom-sim-cli-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the command with its stdout and stderr captured. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await simulateCommand(args, process.env, {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
  });
  return { code, out, err };
}

test('--help prints the usage and succeeds', async () => {
  const r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.out, SIMULATE_HELP);
  for (const option of [
    '--mqtt-url',
    '--devices',
    '--speed',
    '--seed',
    '--duration',
    '--max-messages',
    '--forever',
    '--scenario',
    '--truth',
    '--request-timeout',
    '--late-window',
    '--connections',
    '--log-level',
  ]) {
    assert.ok(SIMULATE_HELP.includes(option), `help mentions ${option}`);
  }
});

test('usage errors name the option and exit with 2', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'faults:\n  - { symbol: TSLA, latency: soon }\n');
  const cases: Array<[string[], string]> = [
    [
      ['--duration', '10s', '--devices', 'x'],
      '--devices: expected a whole number from 1 to 10000000, got "x"',
    ],
    [
      ['--duration', '10s', '--devices', '0'],
      '--devices: expected a whole number from 1 to 10000000, got "0"',
    ],
    [['--duration', '10s', '--speed', '0'], '--speed: expected a positive number, got "0"'],
    [['--duration', '10s', '--seed=-1'], '--seed: expected a whole number from 0 to 4294967295, got "-1"'],
    [['--duration', '10'], '--duration: expected a duration such as 500ms, 10s or 5m, got "10"'],
    [
      ['--max-messages', '1.5'],
      '--max-messages: expected a whole number from 1 to 9007199254740991, got "1.5"',
    ],
    [['--forever', '--duration', '1m'], '--forever: cannot be combined with --duration or --max-messages'],
    [[], 'give --duration, --max-messages, or --forever to run until interrupted'],
    [
      ['--duration', '10s', '--request-timeout', '1s'],
      '--request-timeout: must be at least 3s, three times the 1 s margin that keeps each simulated reply clear of its timeout, got "1s"',
    ],
    [
      ['--duration', '10s', '--late-window', 'x'],
      '--late-window: expected a duration such as 500ms, 10s or 5m, got "x"',
    ],
    [
      ['--duration', '10s', '--connections', '100'],
      '--connections: expected a whole number from 1 to 64, got "100"',
    ],
    [
      ['--duration', '10s', '--log-level', 'loud'],
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      ['--duration', '10s', '--mqtt-url', 'localhost'],
      '--mqtt-url: expected a URL such as mqtt://127.0.0.1:1883, got "localhost"',
    ],
    [
      ['--duration', '10s', '--scenario', join(dir, 'missing.yaml')],
      `--scenario: cannot read "${join(dir, 'missing.yaml')}": ENOENT`,
    ],
    [
      ['--duration', '10s', '--scenario', bad],
      `--scenario ${bad}: invalid scenario: faults[0].latency: expected a duration such as 4s, 500ms or 2m, got "soon"`,
    ],
    [
      ['--duration', '10s', '--truth', join(dir, 'no', 'such', 't.json')],
      `--truth: cannot write into the folder of "${join(dir, 'no', 'such', 't.json')}"`,
    ],
    [['--duration', '10s', '--bogus'], 'unknown option --bogus'],
    [['--duration', '10s', '--devcies', '5'], 'unknown option --devcies; did you mean --devices?'],
    [['--duration', '10s', '--sped=2'], 'unknown option --sped; did you mean --speed?'],
    [['--duration', '10s', '--speed'], 'option --speed needs a value'],
    [['--duration', '10s', '--forever=yes'], 'option --forever takes no value'],
    [['--duration', '10s', 'extra'], 'unexpected argument "extra"'],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.err, `tkmprom simulate: ${message}\nRun 'tkmprom simulate --help' for the options.\n`);
    assert.equal(r.out, '');
  }
});

test('an unreachable broker is one coded line with the URL and the fix, and exit 1', async () => {
  const port = await freePort();
  const r = await run(['--mqtt-url', `mqtt://sim:hunter2@127.0.0.1:${port}`, '--duration', '5s']);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `tkmprom simulate: --mqtt-url: cannot connect to mqtt://sim:***@127.0.0.1:${port}: connection refused (no broker listens there); start a broker there (tkmprom broker) or point --mqtt-url at a running one [TKM_BROKER_UNREACHABLE]\n`,
  );
  assert.equal(r.out, '');
});
