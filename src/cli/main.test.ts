import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from './main.js';

test('usage errors: the closest command or option, and the help of the command they came from', async () => {
  const cases: [string[], string][] = [
    [
      ['simulat'],
      'unknown command "simulat"; did you mean simulate? (commands: run, simulate, broker, demo, nats-config, keyer)',
    ],
    [['nonsense'], 'unknown command "nonsense" (commands: run, simulate, broker, demo, nats-config, keyer)'],
    [['--windw', '5m'], 'unknown option --windw; did you mean --window? (see tkmprom run --help)'],
    [
      ['run', '--max-device', '5'],
      'unknown option --max-device; did you mean --max-devices? (see tkmprom run --help)',
    ],
    [['run', '--listen'], 'option --listen needs a value (see tkmprom run --help)'],
    [['run', 'extra'], 'unexpected argument "extra" (see tkmprom run --help)'],
    [['demo', '--devices', 'x'], '--devices: expected a positive number, got "x" (see tkmprom demo --help)'],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(main(args, {}), { code: 'TKM_CLI_USAGE', message }, args.join(' '));
  }
});
