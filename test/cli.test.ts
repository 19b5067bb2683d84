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
    const r = cli(['--request-timeout', 'soon']);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /correlation\.requestTimeout: expected a duration such as 500ms, 10s, 5m, got "soon" \(from --request-timeout\)/,
    );
    const u = cli(['--no-such-flag']);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /--no-such-flag/);
    assert.equal(cli(['nonsense']).status, 2);
    const e = cli([], { TKMPROM_MQTT_PROTOCOL_VERSION: '7' });
    assert.equal(e.status, 1);
    assert.match(e.stderr, /mqtt\.protocolVersion.*TKMPROM_MQTT_PROTOCOL_VERSION/);
  });

  test('the example config is valid', () => {
    const r = cli(['--config', 'examples/tkmprom.yaml', '--listen', '127.0.0.1:1', '--request-timeout', 'x']);
    // Loaded and merged: the only complaint is the flag's bad value.
    assert.match(
      r.stderr,
      /invalid configuration:\n {2}correlation\.requestTimeout: .*\(from --request-timeout\)\n? \[TKM_CONFIG_INVALID\]/,
    );
  });

  test('runs in the foreground with JSON logs, serves metrics, stops cleanly on SIGINT', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, '--mqtt-url', broker.url, '--listen', `127.0.0.1:${port}`, '--request-timeout', '2s'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
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
      assert.match(r.stderr, new RegExp(`--listen: 127\\.0\\.0\\.1:${port} is already in use`));
    } finally {
      srv.close();
    }
  });
});
