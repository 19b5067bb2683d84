import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { RunningExporter } from '../src/cli/run.js';
import { loadConfig } from '../src/config/index.js';
import { exporterFor, spawnExporter, sleep } from './helpers/exporter.js';
import { eventually, freePort, waitForPort } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';
import { seriesValue } from './helpers/series.js';

/** A private Mosquitto whose process the test can freeze, thaw and restart. */
async function broker(extra: string[] = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-faults-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', ...extra, ''].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitForPort(port, 5000);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    start,
    stop,
    freeze: () => child!.kill('SIGSTOP'),
    thaw: () => child!.kill('SIGCONT'),
  };
}

/**
 * A TCP proxy between the exporter and the broker that, while `dropping`, drops the PUBLISH
 * frames (fixed header type 3) going to the exporter and passes every other frame: the link
 * looks alive to TCP and to MQTT's keepalive, but the feed is silent.
 */
async function publishDroppingProxy(upstreamPort: number) {
  const state = { dropping: false, dropped: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    state.connections++;
    const up = connect(upstreamPort, '127.0.0.1');
    sockets.add(down).add(up);
    down.pipe(up);
    let buf: Buffer = Buffer.alloc(0);
    up.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let at = 0;
      for (;;) {
        let p = at + 1;
        let length = 0;
        let scale = 1;
        let done = false;
        while (p < buf.length && p - at <= 4) {
          const b = buf[p++]!;
          length += (b & 0x7f) * scale;
          scale *= 128;
          if (b < 0x80) {
            done = true;
            break;
          }
        }
        if (!done || p + length > buf.length) break;
        const end = p + length;
        if (state.dropping && buf[at]! >> 4 === 3) state.dropped++;
        else down.write(buf.subarray(at, end));
        at = end;
      }
      buf = buf.subarray(at);
    });
    const close = () => {
      up.destroy();
      down.destroy();
    };
    up.on('close', close).on('error', close);
    down.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    state,
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function client(url: string): Promise<MqttClient> {
  const c = mqtt.connect(url, {
    clientId: `faults-pub-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 100,
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

const device = (i: number) => `B0000000${i.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Paired fleet traffic: every tick one request per device of a slice, and the replies to the
 * previous tick's requests; `rate` messages a second in all.
 */
function pairedTraffic(pub: MqttClient, rate: number, devices = 50) {
  const perTick = Math.max(1, Math.round(rate / 2 / 100));
  let next = 0;
  let lastBatch: number[] = [];
  const timer = setInterval(() => {
    for (const i of lastBatch) {
      pub.publish(device(i), JSON.stringify({ type: 'UPDATE', symbol: 'FLOW', price: 1 }), { qos: 0 });
    }
    lastBatch = [];
    for (let k = 0; k < perTick; k++) {
      const i = next++ % devices;
      pub.publish('STOCKPRICEUPDATE', JSON.stringify({ type: 'UPDATE', device: device(i), symbol: 'FLOW' }), {
        qos: 0,
      });
      lastBatch.push(i);
    }
  }, 10);
  return { stop: () => clearInterval(timer) };
}

const counter = (running: RunningExporter) => {
  const value = (name: string, ...labels: string[]) =>
    seriesValue(running.exporter.registry, name, ...labels) ?? 0;
  return {
    messages: () => running.exporter.messages,
    silences: () => value('tkmprom_mqtt_silences_total'),
    reconnects: () => value('tkmprom_mqtt_reconnects_total'),
    timeouts: (s: string) => value('tickrmeter_stock_update_timeout_total', s),
    interrupted: (s: string) => value('tickrmeter_stock_update_interrupted_total', s),
    responses: (s: string) => value('tickrmeter_stock_update_responses_total', s),
  };
};

describe('the MQTT source under faults', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  test('a) PUBLISH frames dropped on a live link: one silence, /readyz 503 with the reason, reconnect, counting again, no timeouts', {
    timeout: 60_000,
  }, async (t) => {
    const b = await broker();
    cleanups.push(b.stop);
    const proxy = await publishDroppingProxy(b.port);
    cleanups.push(proxy.close);
    const running = await exporterFor(proxy.url, { 'mqtt-silence-timeout': '3s' });
    cleanups.push(() => running.stop());
    const pub = await client(b.url);
    cleanups.push(() => pub.endAsync(true));
    const x = counter(running);
    const traffic = pairedTraffic(pub, 200);
    await eventually(() => x.responses('FLOW') >= 200, 10_000, 'paired traffic to be counted');
    assert.equal((await fetch(`${running.url}/readyz`)).status, 200);

    proxy.state.dropping = true;
    const droppedAt = Date.now();
    await eventually(() => x.silences() === 1, 6_000, 'the silence to be counted');
    const declaredAfter = Date.now() - droppedAt;
    t.diagnostic(`silence declared ${declaredAfter} ms after the drop began`);
    assert.ok(
      declaredAfter >= 2_900 && declaredAfter <= 4_500,
      `declared ${declaredAfter} ms after the drop began`,
    );
    const res = await fetch(`${running.url}/readyz`);
    const body = await res.text();
    assert.equal(res.status, 503);
    assert.match(
      body,
      /^not ready: no MQTT message for \d+\.\d s from mqtt:\/\/127\.0\.0\.1:\d+(; reconnecting)?\n$/,
    );
    await eventually(() => x.reconnects() === 1, 5_000, 'the exporter to reconnect through the proxy');
    assert.equal(proxy.state.connections, 2);
    assert.ok(x.interrupted('FLOW') > 0, 'requests pending at the silence are interrupted');
    const interrupted = x.interrupted('FLOW');

    proxy.state.dropping = false;
    const messages = x.messages();
    await eventually(() => x.messages() > messages + 100, 5_000, 'messages to be counted again');
    await eventually(async () => (await fetch(`${running.url}/readyz`)).status === 200, 2_000, '/readyz 200');
    traffic.stop();
    await sleep(500);
    assert.equal(x.silences(), 1, 'exactly one silence');
    assert.equal(x.timeouts('FLOW'), 0, 'no request whose reply was dropped timed out');
    assert.equal(x.interrupted('FLOW'), interrupted);
    assert.equal(x.reconnects(), 1);
    const s = await scrape(running.url);
    assert.equal(s.get('tkmprom_mqtt_silences_total'), 1);
    assert.ok(s.get('tkmprom_mqtt_last_message_age_seconds')! < 2);
  });

  test('b) Mosquitto frozen for 10 s under 500 msg/s: no timeouts, pending ones interrupted; a real timeout after it is counted within 3 s of its deadline', {
    timeout: 60_000,
  }, async (t) => {
    const b = await broker();
    cleanups.push(b.stop);
    const running = await exporterFor(b.url, { 'request-timeout': '5s' });
    cleanups.push(() => running.stop());
    const pub = await client(b.url);
    cleanups.push(() => pub.endAsync(true));
    const x = counter(running);
    const traffic = pairedTraffic(pub, 500);
    await eventually(() => x.responses('FLOW') >= 1000, 10_000, 'paired traffic to be counted');
    // The feed's rhythm is learnt over 10 s; before that the 60 s ceiling would apply.
    await sleep(10_000);

    b.freeze();
    await sleep(10_000);
    b.thaw();
    assert.equal(x.silences(), 1, 'the freeze is one silence');
    assert.ok(x.interrupted('FLOW') > 0, 'what was pending at the freeze is interrupted');
    await eventually(() => x.reconnects() >= 1, 15_000, 'the exporter to reconnect after the thaw');
    const responses = x.responses('FLOW');
    await eventually(
      () => x.responses('FLOW') > responses + 500,
      10_000,
      'paired traffic to be counted again',
    );
    assert.equal(x.silences(), 1, 'one silence while traffic flows');
    traffic.stop();
    // The stopped feed is a silence of its own (declared 3 s on); no timeout either way.
    await sleep(6_000);
    assert.equal(x.timeouts('FLOW'), 0, 'tickrmeter_stock_update_timeout_total stays 0');
    t.diagnostic(
      `interrupted ${x.interrupted('FLOW')}, reconnects ${x.reconnects()}, silences ${x.silences()}`,
    );

    // A small fleet now: a heartbeat a second, and one request nobody answers.
    const beat = setInterval(
      () =>
        pub.publish('DEVICESTATUS_RES', JSON.stringify({ device: device(1), battery: '90', uptime: '100' })),
      1_000,
    );
    try {
      pub.publish('STOCKPRICEUPDATE', JSON.stringify({ type: 'UPDATE', device: device(2), symbol: 'LONE' }));
      const sentAt = Date.now();
      await eventually(() => x.timeouts('LONE') === 1, 9_000, 'the unanswered request to time out');
      const after = Date.now() - sentAt - 5_000;
      t.diagnostic(`the real timeout was counted ${after} ms after its deadline`);
      assert.ok(after >= -100 && after <= 3_000, `counted ${after} ms after the deadline`);
    } finally {
      clearInterval(beat);
    }
    assert.equal(x.timeouts('FLOW'), 0);
  });

  test('c) Mosquitto restarted: reconnected and counting again within 2 s of it being back', {
    timeout: 60_000,
  }, async (t) => {
    const b = await broker();
    cleanups.push(b.stop);
    const defaults = loadConfig({ flags: {} }).mqtt;
    assert.equal(defaults.reconnectMax, 2_000);
    const running = await exporterFor(b.url, {}, (c) => {
      c.mqtt.reconnectMin = defaults.reconnectMin;
      c.mqtt.reconnectMax = defaults.reconnectMax;
    });
    cleanups.push(() => running.stop());
    const pub = await client(b.url);
    cleanups.push(() => pub.endAsync(true));
    const x = counter(running);
    const beat = setInterval(
      () =>
        pub.publish('DEVICESTATUS_RES', JSON.stringify({ device: device(1), battery: '90', uptime: '100' })),
      20,
    );
    try {
      await eventually(() => x.messages() >= 20, 5_000, 'messages to be counted');
      await b.stop();
      // Long enough for the backoff to reach its ceiling.
      await sleep(8_000);
      await b.start();
      const backAt = Date.now();
      const before = x.messages();
      await eventually(() => x.messages() > before, 10_000, 'messages to be counted again');
      const tookMs = Date.now() - backAt;
      t.diagnostic(`counting again ${tookMs} ms after the broker was back`);
      assert.ok(tookMs <= 2_300, `counting again ${tookMs} ms after the broker was back`);
      assert.equal(x.reconnects(), 1);
      assert.equal(x.silences(), 0, 'a lost connection is not a silence');
    } finally {
      clearInterval(beat);
    }
  });

  test('d) a 250 MB PUBLISH is skipped as it streams in: RSS within 30 MB, counted oversize, the next message counted', {
    timeout: 90_000,
  }, async (t) => {
    const b = await broker(['message_size_limit 0']);
    cleanups.push(b.stop);
    const exp = await spawnExporter(['--mqtt-url', b.url]);
    cleanups.push(() => exp.stop());
    const rss = () =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${exp.child.pid}/status`, 'utf8'))![1]) / 1024;
    const pub = await client(b.url);
    cleanups.push(() => pub.endAsync(true));
    const beat = () =>
      pub.publish('DEVICESTATUS_RES', JSON.stringify({ device: device(1), battery: '90', uptime: '1' }));
    beat();
    await eventually(
      async () => (await scrape(exp.url)).get('tkmprom_messages_total', { kind: 'heartbeat' }) === 1,
      5_000,
      'a first heartbeat',
    );
    await sleep(500);
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 20);
    try {
      await rawPublish(b.port, 'LOG/B00000000001', 250 * 1024 * 1024);
      await eventually(
        async () =>
          (await scrape(exp.url)).get('tkmprom_messages_invalid_total', { reason: 'oversize' }) === 1,
        30_000,
        'the oversize message to be counted',
      );
    } finally {
      clearInterval(sampler);
    }
    beat();
    await eventually(
      async () => (await scrape(exp.url)).get('tkmprom_messages_total', { kind: 'heartbeat' }) === 2,
      5_000,
      'the next heartbeat',
    );
    const s = await scrape(exp.url);
    assert.equal(s.get('tkmprom_messages_total', { kind: 'invalid' }), 1);
    assert.equal(s.get('tkmprom_mqtt_reconnects_total'), 0, 'the connection stayed up');
    t.diagnostic(
      `exporter RSS ${before.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB while the 250 MB message streamed in`,
    );
    assert.ok(peak - before <= 30, `RSS grew ${(peak - before).toFixed(1)} MB`);
  });
});

/** Publishes one QoS 0 message of `bytes` bytes from a raw socket, written 1 MiB at a time. */
async function rawPublish(port: number, topic: string, bytes: number): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const id = Buffer.from('faults-raw');
  const connectBody = Buffer.concat([
    Buffer.from([0x00, 0x04]),
    Buffer.from('MQTT'),
    Buffer.from([0x04, 0x02, 0x00, 0x3c, 0x00, id.length]),
    id,
  ]);
  sock.write(Buffer.concat([Buffer.from([0x10, connectBody.length]), connectBody]));
  await new Promise<void>((resolve) => sock.once('data', () => resolve()));
  const t = Buffer.from(topic);
  let remaining = 2 + t.length + bytes;
  const length: number[] = [];
  do {
    let b = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) b |= 0x80;
    length.push(b);
  } while (remaining > 0);
  sock.write(Buffer.concat([Buffer.from([0x30, ...length, t.length >> 8, t.length & 0xff]), t]));
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  for (let left = bytes; left > 0; left -= chunk.length) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    if (!sock.write(piece)) await new Promise<void>((resolve) => sock.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => sock.end(Buffer.from([0xe0, 0x00]), () => resolve()));
}
