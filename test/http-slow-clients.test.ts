import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { type ExporterProcess, sleep, spawnExporter } from './helpers/exporter.js';
import { eventually, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { type Scrape, scrape } from './helpers/scrape.js';

const CLIENTS = 300;
const SEND_TIMEOUT_MS = 2000;
const DEVICES = 3000;
const MAX_SYMBOLS = 500;
/**
 * Loopback takes up to about 4 MB from a client that does not read (the sender's socket buffer
 * grows to net.ipv4.tcp_wmem's maximum): the exposition must be larger for a client to hold unread
 * data in the exporter. Per-device series and 60 latency buckets make it so within seconds.
 */
const MIN_EXPOSITION_BYTES = 6_000_000;
const BUCKETS = Array.from({ length: 120 }, (_, i) => Number((0.01 * 1.075 ** i).toPrecision(3)));

/** A client that sends `GET /metrics` and reads nothing until told to. */
interface SlowClient {
  socket: Socket;
  /** Resumes reading; resolves with the bytes received once the server closed or the response is whole. */
  drain(): Promise<{ bytes: number; expected: number | undefined }>;
}

function slowClient(port: number): Promise<SlowClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      socket.write('GET /metrics HTTP/1.1\r\nHost: tkmprom\r\n\r\n');
      resolve({
        socket,
        drain: () =>
          new Promise((done) => {
            let head = '';
            let headBytes = 0;
            let bytes = 0;
            let expected: number | undefined;
            const finish = () => {
              socket.destroy();
              done({ bytes, expected });
            };
            socket.on('data', (d: Buffer) => {
              bytes += d.length;
              if (expected === undefined && head.length < 4096) {
                head += d.toString('latin1');
                const end = head.indexOf('\r\n\r\n');
                if (end >= 0) {
                  headBytes = end + 4;
                  const m = /\r\ncontent-length: (\d+)\r\n/i.exec(head.slice(0, end + 2));
                  expected = m ? headBytes + Number(m[1]) : undefined;
                }
              }
              if (expected !== undefined && bytes >= expected) finish();
            });
            socket.once('close', finish);
            socket.resume();
          }),
      });
    });
  });
}

/**
 * The drop counter, read from a scrape without parsing the rest: this process also runs the fleet
 * and times the /healthz probes, which a full parse of megabytes would delay.
 */
async function droppedCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^tkmprom_http_slow_clients_dropped_total (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('slow /metrics clients', { timeout: 90_000 }, () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test(`${CLIENTS} clients that never read: RSS within 50 MB, /healthz within 1 s, no timeouts, each dropped after http.sendTimeout`, async (t) => {
    const broker: Mosquitto = await startMosquitto();
    cleanups.push(() => broker.stop());
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-slow-clients-'));
    const configFile = join(dir, 'tkmprom.yaml');
    writeFileSync(configFile, `stats:\n  latencyBuckets: [${BUCKETS.join(', ')}]\n`);
    const exp: ExporterProcess = await spawnExporter([
      '--mqtt-url',
      broker.url,
      '--config',
      configFile,
      '--per-device-metrics',
      String(DEVICES),
      '--max-symbols',
      String(MAX_SYMBOLS),
      '--http-send-timeout',
      `${SEND_TIMEOUT_MS}ms`,
      // Every client is served, so that all of them read the same render.
      '--http-max-concurrent-responses',
      String(CLIENTS + 100),
      '--log-level',
      'warn',
    ]);
    cleanups.push(() => exp.stop());
    const pid = exp.child.pid!;
    const port = Number(new URL(exp.url).port);
    // The fleet in a process of its own, so that this one only probes and times.
    const simArgs = ['simulate', '--mqtt-url', broker.url, '--devices', String(DEVICES), '--speed', '40'];
    const sim = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        ...simArgs,
        '--seed',
        '11',
        '--duration',
        '2m',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (sim.exitCode !== null || sim.signalCode !== null) return resolve();
          sim.once('exit', () => resolve());
          sim.kill('SIGKILL');
        }),
    );

    // Until the fleet has filled the exposition: every symbol slot taken, every device heard.
    let bytes = 0;
    await eventually(
      async () => {
        const last = bytes;
        bytes = (await (await fetch(`${exp.url}/metrics`)).arrayBuffer()).byteLength;
        await sleep(500);
        return bytes >= MIN_EXPOSITION_BYTES && Math.abs(bytes - last) < bytes / 100;
      },
      40_000,
      `the exposition to reach ${MIN_EXPOSITION_BYTES} bytes and stay`,
    );

    /**
     * Samples the exporter's RSS and times /healthz every 50 ms while `during` runs, which polls
     * the drop counter as it likes: the same load before the slow clients as with them.
     */
    const sample = async (during: (poll: () => Promise<number>) => Promise<void>) => {
      const out = { rssPeakMb: rssMb(pid), healthWorstMs: 0, probes: 0 };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          out.rssPeakMb = Math.max(out.rssPeakMb, rssMb(pid));
          const t0 = performance.now();
          const res = await fetch(`${exp.url}/healthz`);
          await res.text();
          assert.equal(res.status, 200);
          out.healthWorstMs = Math.max(out.healthWorstMs, performance.now() - t0);
          out.probes++;
          out.rssPeakMb = Math.max(out.rssPeakMb, rssMb(pid));
          await sleep(50);
        }
      })();
      try {
        await during(() => droppedCount(exp.url));
      } finally {
        sampling = false;
        await sampler;
      }
      return out;
    };

    /**
     * Timeouts of requests whose symbol is known. The simulated backend misses some boots on
     * purpose, and the symbol-less requests of those devices time out (`symbol="unknown"`) with or
     * without slow clients; a stalled exporter would time out requests of every symbol.
     */
    const namedTimeouts = (x: Scrape) =>
      x.sum('tickrmeter_stock_update_timeout_total') -
      (x.get('tickrmeter_stock_update_timeout_total', { symbol: 'unknown' }) ?? 0);
    const s0 = await scrape(exp.url);
    const before = await sample(async (poll) => {
      const end = performance.now() + 3000;
      while (performance.now() < end) {
        assert.equal(await poll(), 0);
        await sleep(100);
      }
    });

    const clients: SlowClient[] = [];
    cleanups.push(() => {
      for (const c of clients) c.socket.destroy();
    });
    const during = await sample(async (poll) => {
      for (let i = 0; i < CLIENTS; i++) clients.push(await slowClient(port));
      const openedAt = performance.now();
      // Every client has been dropped, or the count has not moved for twice the send timeout.
      let dropped = -1;
      let stableSince = openedAt;
      await eventually(
        async () => {
          const now = await poll();
          if (now !== dropped) {
            dropped = now;
            stableSince = performance.now();
          }
          await sleep(100);
          return (
            dropped === CLIENTS ||
            (performance.now() - openedAt > SEND_TIMEOUT_MS &&
              performance.now() - stableSince > 2 * SEND_TIMEOUT_MS)
          );
        },
        30_000,
        'the slow clients to be dropped',
      );
    });

    // A client dropped while it reads is cut short and counted; one whose response completes as it
    // reads is neither. Once every client has its answer, the count is final.
    const results = await Promise.all(clients.map((c) => c.drain()));
    const s1 = await scrape(exp.url);
    const dropped = s1.get('tkmprom_http_slow_clients_dropped_total')!;
    const truncated = results.filter((r) => r.expected === undefined || r.bytes < r.expected).length;
    const whole = CLIENTS - truncated;
    const grownMb = during.rssPeakMb - before.rssPeakMb;
    t.diagnostic(
      `exposition ${(bytes / 1e6).toFixed(1)} MB; exporter RSS peak ${before.rssPeakMb.toFixed(1)} MB before, ` +
        `${during.rssPeakMb.toFixed(1)} MB with the slow clients; /healthz worst ${before.healthWorstMs.toFixed(0)} ms ` +
        `before, ${during.healthWorstMs.toFixed(0)} ms with them (${during.probes} probes); ` +
        `${dropped} dropped, ${truncated} clients cut short, ${whole} got the whole body; ` +
        `timeouts ${s0.sum('tickrmeter_stock_update_timeout_total')} before, ${s1.sum('tickrmeter_stock_update_timeout_total')} after`,
    );
    assert.ok(grownMb <= 50, `RSS grew ${grownMb.toFixed(1)} MB`);
    assert.ok(during.probes >= 5, `${during.probes} /healthz probes`);
    assert.ok(during.healthWorstMs < 1000, `/healthz took ${during.healthWorstMs.toFixed(0)} ms`);
    assert.equal(dropped, truncated, 'every client that held unread data was dropped, and no other');
    assert.ok(truncated >= CLIENTS / 2, `${truncated} of ${CLIENTS} clients held unread data`);
    assert.equal(s1.get('tkmprom_http_requests_refused_total', { reason: 'concurrency' }), 0);
    assert.equal(s1.get('tkmprom_http_requests_refused_total', { reason: 'connections' }), 0);
    assert.equal(namedTimeouts(s1), namedTimeouts(s0), 'no request for a symbol timed out');
    // And the exporter still serves whole scrapes.
    const res = await fetch(`${exp.url}/metrics`);
    const body = await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(String(body.byteLength), res.headers.get('content-length'));
  });
});
