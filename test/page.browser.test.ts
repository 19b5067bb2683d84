import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Browser } from 'playwright-core';
import type { RunningExporter } from '../src/cli/run.js';
import { launchChromium } from './helpers/browser.js';
import { exporterFor, publish, publisher } from './helpers/exporter.js';
import { type Mosquitto, startMosquitto } from './helpers/mosquitto.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const TOKEN = 'page-test-token';
/** Scaled down from a 10 s device timeout and a 4 s TSLA: the same picture, five times sooner. */
const REQUEST_TIMEOUT_MS = 2000;
const TSLA_MS = 1500;

const STREAM_RULES = [
  { pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' },
  { pattern: '^(AAPL|MSFT|GOOG|AMZN)$', stream: 'polygon' },
  { pattern: '^(NVDA|TSLA)$', stream: 'finage' },
  { pattern: '^[A-Z]{6}$', stream: 'fxon' },
];
const SYMBOLS = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'EURUSD', 'BTC/USD', 'ETH/USD', 'SOL/USD'];
const DEVICES_PER_SYMBOL = 4;
const FIRMWARE = ['45p', '70p', '1.81'];

/**
 * A small fleet in a loop: every device asks for its symbol, gets its answer after the symbol's
 * latency (none for the coingecko pairs), and asks again shortly after. Three more devices send
 * one heartbeat and fall silent, so that the page has devices that went offline.
 */
class Feed {
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private seed = 12345;

  constructor(private readonly client: MqttClient) {}

  async start(): Promise<void> {
    let n = 0;
    for (const symbol of SYMBOLS) {
      for (let k = 0; k < DEVICES_PER_SYMBOL; k++) {
        const device = `B00000000${(0x100 + n).toString(16).toUpperCase()}`;
        await publish(this.client, 'DEVICESTATUS_RES', {
          status: 'online',
          firmware_version: FIRMWARE[n % FIRMWARE.length],
          device,
          battery: String(20 + ((n * 37) % 80)),
          isCharging: n % 4 === 0 ? '1' : '0',
          uptime: '3600',
        });
        this.later(() => this.ask(device, symbol), this.random() * 600);
        n++;
      }
    }
    for (let k = 0; k < 3; k++) {
      await publish(this.client, 'DEVICESTATUS_RES', {
        status: 'online',
        firmware_version: FIRMWARE[k],
        device: `C0000000000${k}`,
        battery: '12',
      });
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  private ask(device: string, symbol: string): void {
    void publish(this.client, 'STOCKPRICEUPDATE', { type: 'UPDATE', device, symbol }).catch(() => {});
    if (symbol.includes('/')) {
      this.later(() => this.ask(device, symbol), REQUEST_TIMEOUT_MS + 200 + this.random() * 300);
      return;
    }
    const latency = symbol === 'TSLA' ? TSLA_MS - 100 + this.random() * 200 : 80 + this.random() * 300;
    this.later(() => {
      void publish(this.client, device, { type: 'UPDATE', symbol, interval: 30 }).catch(() => {});
      this.later(() => this.ask(device, symbol), 150 + this.random() * 250);
    }, latency);
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2147483648;
    return this.seed / 2147483648;
  }
}

/**
 * What the predicates below read of the page. They run in the browser (functions, not strings: the
 * page's CSP forbids eval), and this project compiles without the DOM types.
 */
interface InPage {
  document: {
    body: { dataset: Record<string, string | undefined> };
    querySelector(selector: string): unknown;
    querySelectorAll(selector: string): { length: number };
  };
}

const updatesAtLeast = (n: number) =>
  Number((globalThis as unknown as InPage).document.body.dataset.updates) >= n;

describe('status page in a browser', { timeout: 60_000 }, () => {
  let broker: Mosquitto;
  let running: RunningExporter;
  let pub: MqttClient;
  let feed: Feed;
  let browser: Browser;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is needed (scripts/test.sh installs it)`);
    broker = await startMosquitto();
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'tkmprom-page-')), 'token');
    writeFileSync(tokenFile, TOKEN);
    running = await exporterFor(
      broker.url,
      { 'request-timeout': `${REQUEST_TIMEOUT_MS}ms`, 'device-timeout': '4s', 'api-token-file': tokenFile },
      (c) => {
        c.streams.rules = STREAM_RULES;
        c.stats.objectiveP95 = 1000;
      },
    );
    pub = await publisher(broker.url);
    feed = new Feed(pub);
    await feed.start();
    browser = await launchChromium();
  });

  after(async () => {
    feed?.stop();
    await browser?.close();
    await pub?.endAsync();
    await running?.stop();
    await broker?.stop();
  });

  test('the down crypto pairs, then TSLA, among the worst symbols; coingecko down; offline devices listed', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });

    // With a token configured the page asks for it once, then lives on its cookie.
    const first = await page.goto(`${running.url}/`);
    assert.equal(first?.status(), 401);
    await page.fill('input[name="token"]', TOKEN);
    await Promise.all([page.waitForURL(`${running.url}/`), page.click('button[type="submit"]')]);
    assert.equal(page.url(), `${running.url}/`, 'the token is gone from the address');
    const cookies = await context.cookies();
    assert.equal(cookies.find((c) => c.name === 'tkmprom_session')?.httpOnly, true);
    assert.deepEqual(
      problems.splice(0),
      ['console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)'],
      'only the form page itself, answered 401',
    );

    await page.waitForFunction(updatesAtLeast, 1, { timeout: 10_000 });
    await page.waitForFunction(
      () => {
        const d = (globalThis as unknown as InPage).document;
        return (
          d.querySelector('#worst-body tr[data-symbol="TSLA"]') !== null &&
          d.querySelectorAll('#worst-body tr[data-down="true"]').length === 3 &&
          d.querySelector('.stream[data-stream="coingecko"][data-health="bad"]') !== null &&
          d.querySelectorAll('#offline li').length >= 3
        );
      },
      null,
      { timeout: 40_000, polling: 250 },
    );
    // One more update, so the page is seen refreshing itself and not only loading.
    const seen = Number(await page.getAttribute('body', 'data-updates'));
    await page.waitForFunction(updatesAtLeast, seen + 1, { timeout: 10_000 });

    const tsla = page.locator('#worst-body tr[data-symbol="TSLA"]');
    const cells = await tsla.locator('td').allTextContents();
    assert.equal(cells[1], 'TSLA');
    assert.equal(cells[2], 'finage');
    const p95 = Number(/^([\d.]+) s$/.exec(cells[4]!)?.[1]);
    assert.ok(p95 >= 1.3 && p95 <= 1.8, `TSLA p95 about 1.5 s, shown as ${cells[4]}`);
    // Down before slow: the three pairs that answer nothing (most window requests first, so their
    // order varies), each with its badge, then TSLA, the slowest of those that answer.
    const rows = await page
      .locator('#worst-body tr')
      .evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute('data-symbol'),
          e.getAttribute('data-down'),
          e.querySelector('.badge.down')?.textContent ?? null,
        ]),
      );
    assert.deepEqual(
      rows
        .slice(0, 3)
        .map((r) => r[0])
        .sort(),
      ['BTC/USD', 'ETH/USD', 'SOL/USD'],
    );
    assert.deepEqual(
      rows.slice(0, 4).map((r) => [r[1], r[2]]),
      [
        ['true', 'down'],
        ['true', 'down'],
        ['true', 'down'],
        [null, null],
      ],
    );
    assert.equal(rows[3]![0], 'TSLA');
    assert.ok(
      rows.slice(3).every((r) => r[1] === null && r[2] === null),
      'no other row is down',
    );
    assert.deepEqual((await page.locator('#worst-body tr td.rank').allTextContents()).slice(0, 4), [
      '1',
      '2',
      '3',
      '4',
    ]);
    const coingecko = page.locator('.stream[data-stream="coingecko"]');
    assert.equal(await coingecko.locator('.pill').textContent(), '0.0');
    assert.equal(await coingecko.locator('.badge.down').textContent(), 'down');
    assert.equal(
      await page.locator('.stream').first().getAttribute('data-stream'),
      'coingecko',
      'the down stream first',
    );
    assert.match((await coingecko.textContent()) ?? '', /answered 0%/);
    assert.equal(await page.locator('.stream[data-stream="polygon"]').getAttribute('data-health'), 'good');
    assert.match((await page.textContent('#online')) ?? '', /^\d+$/);
    assert.notEqual(await page.textContent('#rate'), '\u2013');
    const offline = await page
      .locator('#offline li')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-device')));
    assert.deepEqual(offline.sort(), ['C00000000000', 'C00000000001', 'C00000000002']);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    await phone.context().addCookies(cookies);
    await phone.goto(`${running.url}/`);
    await phone.waitForFunction(updatesAtLeast, 1, { timeout: 10_000 });
    await phone.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true });
    await phone.close();
    await context.close();
    assert.deepEqual(problems, []);
  });
});
