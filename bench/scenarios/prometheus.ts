import {
  type HeadFigures,
  headFigures,
  scalar,
  startPrometheus,
  type StoredFigures,
  storedFigures,
} from '../../test/helpers/prometheus-pair.js';
import type { Ctx } from '../lib/context.js';
import { CLI } from '../lib/exporter.js';
import { freePort, sleep, spawnTracked, stopChild, until } from '../lib/procs.js';

export interface PrometheusResult {
  /** Seconds the two scraped the demo before the figures were read. */
  seconds: number;
  native: HeadFigures & StoredFigures;
  classic: HeadFigures & StoredFigures;
}

/**
 * What a Prometheus pays for the exporter with native histograms and without: the built CLI's
 * demo (300 devices, about 410 symbols) scraped every second by two Prometheus 2.42 with the
 * shipped recording rules, one with `--enable-feature=native-histograms` (protobuf, native
 * histograms, no window latency gauges), one without (text, classic buckets). After `hold`, the
 * heads' series (scraped and recorded) and a snapshot of each head: its samples and chunk bytes.
 */
export async function prometheusScenario(ctx: Ctx): Promise<PrometheusResult> {
  const holdMs = (ctx.quick ? 60 : 300) * 1000;
  const target = `127.0.0.1:${await freePort()}`;
  const demo = spawnTracked(
    process.execPath,
    [CLI, 'demo', '--listen', target, '--broker-listen', `127.0.0.1:${await freePort()}`],
    { stdio: 'ignore' },
  );
  const spawnProm = (cmd: string, args: string[]) => spawnTracked(cmd, args, { stdio: 'ignore' });
  const native = await startPrometheus(target, ['native-histograms'], spawnProm);
  const classic = await startPrometheus(target, [], spawnProm);
  try {
    const scraping = await until(
      async () => ((await scalar(native, 'tkmprom_tracked_symbols')) ?? 0) > 0,
      60_000,
      500,
    );
    if (!scraping) throw new Error('prometheus: the two Prometheus did not scrape the demo within 60 s');
    const started = Date.now();
    ctx.log(`prometheus: both scrape the demo; holding ${holdMs / 1000} s so that head chunks fill`);
    await sleep(holdMs);
    // Both must see the same symbols, or the heads do not compare.
    await until(
      async () =>
        (await scalar(native, 'tkmprom_tracked_symbols')) ===
        (await scalar(classic, 'tkmprom_tracked_symbols')),
      10_000,
      200,
    );
    const heads = [await headFigures(native), await headFigures(classic)] as const;
    const stored = [await storedFigures(native), await storedFigures(classic)] as const;
    return {
      seconds: (Date.now() - started) / 1000,
      native: { ...heads[0], ...stored[0] },
      classic: { ...heads[1], ...stored[1] },
    };
  } finally {
    await Promise.all([stopChild(native.child), stopChild(classic.child), stopChild(demo)]);
  }
}
