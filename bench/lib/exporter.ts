import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Fetched, get, PROMETHEUS_ACCEPT, sumFamily } from './http.js';
import { freePort, spawnTracked, stopChild, until } from './procs.js';

/**
 * The CLI as `npm run build` compiles it (same tsconfig), into a directory of the harness's own, so that
 * a build of dist/ running beside a benchmark cannot swap files under it.
 */
export const BUILD_DIR = fileURLToPath(new URL('../.dist', import.meta.url));
/**
 * `TKMPROM_BENCH_CLI=path/to/cli/main.js npm run bench -- --no-build --baseline FILE` measures another
 * build (an older commit, say) with the same harness, to hold two builds side by side.
 */
export const CLI = process.env.TKMPROM_BENCH_CLI ?? `${BUILD_DIR}/cli/main.js`;

/** The flags every benchmark exporter runs with; scenarios add their own after these. */
export const BASE_FLAGS = ['--request-timeout', '2s', '--log-level', 'warn'];

/**
 * Extra node flags for the exporter, to profile it where the figures are taken:
 * `TKMPROM_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only load1k`.
 */
const NODE_ARGS = (process.env.TKMPROM_BENCH_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');

export interface ExporterProcess {
  pid: number;
  url: string;
  args: string[];
  /** Sum of tkmprom_messages_total over every kind, from one scrape. */
  messages(): Promise<number>;
  /** Plain text 0.0.4, uncompressed: what the render costs and weighs. */
  scrapePlain(): Promise<Fetched>;
  /** As Prometheus asks: OpenMetrics preferred, gzip accepted. */
  scrapeLikePrometheus(): Promise<Fetched>;
  get(path: string): Promise<Fetched>;
  logTail(): string;
  stop(): Promise<void>;
}

/** The built CLI in its own process, reading `brokerUrl`, listening on a free loopback port. */
export async function startExporterProcess(
  brokerUrl: string,
  extraArgs: string[] = [],
  cli = CLI,
): Promise<ExporterProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-bench-exporter-'));
  const logFile = join(dir, 'exporter.log');
  const log = openSync(logFile, 'w');
  const args = ['--mqtt-url', brokerUrl, '--listen', `127.0.0.1:${port}`, ...BASE_FLAGS, ...extraArgs];
  // Set in the environment, which an older build (TKMPROM_BENCH_CLI) ignores, rather than as flags:
  // - the API scenario asks 200 requests a second from one address: the per-client rate limit is off;
  // - the generator stops dead between phases after up to 180,000 msg/s, which the silence watchdog
  //   rightly takes for a stuck link and reconnects, dropping what is sent meanwhile: it is off, so
  //   that the figures measure throughput (the chaos suite measures the watchdog).
  const child = spawnTracked(process.execPath, [...NODE_ARGS, cli, ...args], {
    stdio: ['ignore', log, log],
    env: { ...process.env, TKMPROM_HTTP_API_RATE_LIMIT: '0', TKMPROM_MQTT_SILENCE_TIMEOUT: '0s' },
  });
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '';
    }
  };
  const ready = await until(
    async () => {
      if (child.exitCode !== null) return true;
      try {
        return (await get(`${url}/readyz`, {}, 1000)).status === 200;
      } catch {
        return false;
      }
    },
    20_000,
    100,
  );
  if (!ready || child.exitCode !== null) {
    await stopChild(child);
    throw new Error(`exporter did not become ready (node ${cli} ${args.join(' ')}):\n${logTail()}`);
  }
  return {
    pid: child.pid!,
    url,
    args,
    async messages() {
      const r = await get(`${url}/metrics`);
      return sumFamily(r.body.toString('utf8'), 'tkmprom_messages_total');
    },
    scrapePlain: () => get(`${url}/metrics`, { accept: 'text/plain' }),
    scrapeLikePrometheus: () =>
      get(`${url}/metrics`, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' }),
    get: (path: string) => get(`${url}${path}`),
    logTail,
    stop: () => stopChild(child),
  };
}
