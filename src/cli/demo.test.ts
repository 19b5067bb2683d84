import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { TkmpromError } from '../errors.js';
import { silentLogger } from '../log.js';
import { type DemoOptions, demoCommand, startDemo } from './demo.js';

const options = (brokerListen: string): DemoOptions => ({
  listen: '127.0.0.1:0',
  brokerListen,
  devices: 1,
  speed: 1,
  seed: 1,
  logLevel: 'silent',
});

async function failure(promise: Promise<unknown>): Promise<TkmpromError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TkmpromError, String(err));
    return err;
  }
  assert.fail('expected an error');
}

test('a taken --broker-listen port is named as --broker-listen, with the fix', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as net.AddressInfo).port;
    const err = await failure(startDemo(options(`127.0.0.1:${port}`), silentLogger()));
    assert.equal(err.code, 'TKM_LISTEN_ADDRESS_IN_USE');
    assert.equal(
      err.message,
      `--broker-listen: address 127.0.0.1:${port} is already in use; pick another port for --broker-listen`,
    );
  } finally {
    blocker.close();
  }
});

test('a bad --broker-listen value is named as --broker-listen, not --embedded-broker', async () => {
  const err = await failure(startDemo(options('nowhere'), silentLogger()));
  assert.equal(err.code, 'TKM_CONFIG_INVALID');
  assert.equal(
    err.message,
    'invalid configuration:\n  embeddedBroker (--broker-listen): expected HOST:PORT such as 127.0.0.1:1883, got "nowhere"',
  );
});

test("the demo's own usage errors name the option and are TKM_CLI_USAGE", async () => {
  const cases: [string[], string][] = [
    [['--devices', 'x'], '--devices: expected a positive number, got "x"'],
    [['--duration', '10'], '--duration: expected a duration such as 90s or 5m, got "10"'],
    [['--devcies', '5'], 'unknown option --devcies; did you mean --devices?'],
    [['--broker-lisen', 'x'], 'unknown option --broker-lisen; did you mean --broker-listen?'],
  ];
  for (const [args, message] of cases) {
    const err = await failure(demoCommand(args));
    assert.equal(err.code, 'TKM_CLI_USAGE');
    assert.equal(err.message, message);
  }
});
