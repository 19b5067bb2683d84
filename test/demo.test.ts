import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { launchChromium } from './helpers/browser.js';
import { eventually, freePort } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';

const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');

/** `npm run demo` as the README says, on free ports, in a process group of its own. */
function npmRunDemo(port: number, brokerPort: number): ChildProcess {
  return spawn(
    'npm',
    [
      'run',
      '--silent',
      'demo',
      '--',
      '--listen',
      `127.0.0.1:${port}`,
      '--broker-listen',
      `127.0.0.1:${brokerPort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
}

describe('the demo, started as the README says', () => {
  let child: ChildProcess | undefined;
  after(async () => {
    // npm runs the demo in a child of its own: signal the whole process group, as Ctrl-C does.
    const running = () => child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child!.pid!, sig);
      } catch {
        // Already gone.
      }
    };
    if (running()) {
      const exited = new Promise((r) => child!.once('exit', r));
      signalGroup('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (running()) signalGroup('SIGKILL');
    }
  });

  test('within 60 s TSLA ranks first, the crypto pairs time out, and the page shows it', async () => {
    const port = await freePort();
    const brokerPort = await freePort();
    const started = Date.now();
    // `npm run demo` is the README's first command (after npm ci); ports are free ones here.
    child = npmRunDemo(port, brokerPort);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    const url = `http://127.0.0.1:${port}`;
    await eventually(
      () => out.includes('tkmprom demo is running'),
      30_000,
      `the demo banner (output so far: ${out})`,
    );
    assert.match(out, new RegExp(`status page +${url.replace(/\./g, '\\.')}/`));
    assert.match(out, new RegExp(`MQTT broker +mqtt://127\\.0\\.0\\.1:${brokerPort}`));

    let last = '';
    await eventually(
      async () => {
        const s = await scrape(url);
        const ranking = s.series('tickrmeter_slowest_symbols_ranking');
        const first = [...ranking.keys()].find((k) => k.startsWith('{rank="1",'));
        let cryptoTimeouts = 0;
        for (const [labels, v] of s.series('tickrmeter_stock_update_timeout_total')) {
          if (/symbol="[A-Z0-9-]+\/[A-Z0-9]+"/.test(labels)) cryptoTimeouts += v;
        }
        last = `rank 1: ${first}; crypto timeouts: ${cryptoTimeouts}`;
        return (
          first === '{rank="1",symbol="TSLA"}' &&
          cryptoTimeouts > 0 &&
          (s.get('tickrmeter_stream_timeout_total', { stream: 'coingecko' }) ?? 0) > 0
        );
      },
      Math.max(1000, 60_000 - (Date.now() - started)),
      'TSLA at rank 1 and crypto timeouts within 60 s',
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; last seen: ${last}`);
    });
    const s = await scrape(url);
    assert.equal(
      s.get('tickrmeter_stream_responses_total', { stream: 'coingecko' }),
      0,
      'coingecko answers nothing',
    );
    assert.ok(
      s.get('tickrmeter_stock_update_p95_latency_seconds', { symbol: 'TSLA' })! > 3.5,
      'TSLA answers in about 4 s',
    );

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${url}/`);
      await page.waitForFunction(
        'document.querySelector(\'#worst-body tr[data-symbol="TSLA"]\') !== null && ' +
          'document.querySelector(\'.stream[data-stream="coingecko"][data-health="bad"]\') !== null',
        undefined,
        { timeout: 20_000 },
      );
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'demo-status-page.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

describe('npm run demo, stopped as a supervisor stops it', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} to the npm process alone stops the demo and leaves no process behind`, async () => {
      const port = await freePort();
      const brokerPort = await freePort();
      const npm = npmRunDemo(port, brokerPort);
      const group = npm.pid!;
      let out = '';
      npm.stdout!.on('data', (d) => (out += d));
      npm.stderr!.on('data', (d) => (out += d));
      const groupAlive = () => {
        try {
          process.kill(-group, 0);
          return true;
        } catch {
          return false;
        }
      };
      try {
        await eventually(
          () => out.includes('tkmprom demo is running'),
          30_000,
          `the demo banner (output: ${out})`,
        );
        const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
        npm.kill(signal);
        assert.equal(await exited, 0, out);
        await eventually(() => !groupAlive(), 10_000, 'every process of the demo to exit');
        // Its ports are let go.
        await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
      } finally {
        if (groupAlive()) process.kill(-group, 'SIGKILL');
      }
    });
  }
});
