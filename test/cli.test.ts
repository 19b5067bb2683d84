import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { publish, publisher } from './helpers/exporter.js';
import { eventually, freePort, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
const BIN = pkg.bin.tkmprom!;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
}

describe('the built CLI', () => {
  let broker: Mosquitto;
  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first (npm test does)`);
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('--help lists every subcommand and option', () => {
    const r = cli(['--help']);
    assert.equal(r.status, 0);
    for (const word of [
      'run',
      'simulate',
      'broker',
      'demo',
      '--mqtt-url',
      '--listen',
      '--request-timeout',
      '--config',
    ]) {
      assert.ok(r.stdout.includes(word), `help mentions ${word}`);
    }
    assert.equal(cli(['run', '--help']).status, 0);
  });

  test('the build writes the git revision it was made from to dist/REVISION', () => {
    const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
    const expected = git.status === 0 ? git.stdout.trim() : 'unknown';
    assert.equal(readFileSync('dist/REVISION', 'utf8').trim(), expected);
  });

  test('a bad setting names the field, the value and the fix, and exits non-zero', () => {
    const r = cli(['--request-timeout', '0s']);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      'tkmprom: invalid configuration:\n  correlation.requestTimeout (--request-timeout): must be a positive duration such as 10s; a request needs time to be answered, got "0s" [TKM_CONFIG_INVALID]\n',
    );
    const u = cli(['--windw', '5m']);
    assert.equal(u.status, 2);
    assert.equal(
      u.stderr,
      'tkmprom: unknown option --windw; did you mean --window? (see tkmprom run --help) [TKM_CLI_USAGE]\n',
    );
    const n = cli(['nonsense']);
    assert.equal(n.status, 2);
    assert.equal(
      n.stderr,
      'tkmprom: unknown command "nonsense" (commands: run, simulate, broker, demo, nats-config, keyer) [TKM_CLI_USAGE]\n',
    );
    const e = cli([], { TKMPROM_MQTT_PROTOCOL_VERSION: '7' });
    assert.equal(e.status, 1);
    assert.match(
      e.stderr,
      /mqtt\.protocolVersion \(TKMPROM_MQTT_PROTOCOL_VERSION\): must be 4 \(MQTT 3\.1\.1\) or 5 \(MQTT 5\), got "7"/,
    );
  });

  test('the example config is valid', () => {
    const r = cli(['--config', 'examples/tkmprom.yaml', '--listen', '127.0.0.1:1', '--request-timeout', 'x']);
    // Loaded and merged: the only complaint is the flag's bad value.
    assert.match(
      r.stderr,
      /invalid configuration:\n {2}correlation\.requestTimeout \(--request-timeout\): [^\n]*got "x" \[TKM_CONFIG_INVALID\]\n$/,
    );
  });

  test('runs in the foreground with JSON logs, serves metrics, stops cleanly on SIGINT', async () => {
    const port = await freePort();
    // Credentials from the environment, as the README says; Mosquitto here lets anyone in.
    const password = 'pw-8f3a9c2e71';
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--mqtt-url',
        broker.url,
        '--listen',
        `127.0.0.1:${port}`,
        '--request-timeout',
        '2s',
        '--log-level',
        'trace',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TKMPROM_MQTT_USERNAME: 'tkmprom', TKMPROM_MQTT_PASSWORD: password },
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      await eventually(
        () =>
          fetch(`${url}/readyz`).then(
            (r) => r.status === 200,
            () => false,
          ),
        15_000,
        'readiness',
      );
      const pub = await publisher(broker.url);
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: '142B2FEB7A10', symbol: 'AAPL' });
      await pub.endAsync();
      await eventually(
        async () =>
          (await scrape(url)).get('tickrmeter_stock_update_timeout_total', { symbol: 'AAPL' }) === 1,
        6000,
        'a 2 s timeout',
      );
      const build = [...(await scrape(url)).series('tkmprom_build_info')];
      const revision = readFileSync('dist/REVISION', 'utf8').trim();
      assert.deepEqual(build, [
        [`{version="${pkg.version}",revision="${revision}",nodejs="${process.version}"}`, 1],
      ]);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      const lines = out.trim().split('\n');
      for (const line of lines) {
        const rec = JSON.parse(line) as { level: number; msg: string };
        assert.equal(typeof rec.level, 'number');
      }
      assert.ok(lines.some((l) => l.includes('"msg":"stopped"')));
      assert.ok(lines.some((l) => l.includes('"msg":"tkmprom exporter started"')));
      assert.deepEqual(
        lines.filter((l) => l.includes(password)),
        [],
        'no log line, at any level, holds the password',
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a taken port is a clear error naming the option', async () => {
    const port = await freePort();
    const { createServer } = await import('node:net');
    const srv = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    try {
      const r = cli(['--mqtt-url', broker.url, '--listen', `127.0.0.1:${port}`]);
      assert.equal(r.status, 1);
      assert.equal(
        r.stderr,
        `tkmprom: --listen: 127.0.0.1:${port} is already in use; pick another port for --listen [TKM_LISTEN_ADDRESS_IN_USE]\n`,
      );
      const fromEnv = cli(['--mqtt-url', broker.url], { TKMPROM_LISTEN: `127.0.0.1:${port}` });
      assert.equal(fromEnv.status, 1);
      assert.equal(
        fromEnv.stderr,
        `tkmprom: TKMPROM_LISTEN: 127.0.0.1:${port} is already in use; pick another port for TKMPROM_LISTEN [TKM_LISTEN_ADDRESS_IN_USE]\n`,
      );
    } finally {
      srv.close();
    }
  });
});
