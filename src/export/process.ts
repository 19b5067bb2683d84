import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from './registry.js';

/** How often the event-loop delay monitor samples the loop. */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * The standard process and Node.js runtime metrics, under prom-client's names and help texts so dashboards
 * built for prom-client keep working, computed here from `process.cpuUsage()`, `process.memoryUsage()`,
 * /proc and `perf_hooks` at each render. Everything is synchronous, so `render` needs no async preparation
 * and no background timer runs between scrapes.
 *
 * `nodejs_eventloop_lag_seconds` has prom-client's semantics: each collect starts a `setImmediate` probe and
 * reports the one the previous collect started (0 until then). The `_min/_max/_mean/_stddev/_pNN` gauges
 * come from `monitorEventLoopDelay`, reset at each collect, so they describe the interval between scrapes.
 * Unlike prom-client's, they exclude the monitor's own sampling interval: an idle loop reads 0, not 10 ms.
 *
 * Returns a function that stops the event-loop delay monitor.
 */
export function registerProcessMetrics(reg: Registry): () => void {
  const cpuUser = reg.counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.');
  const cpuSystem = reg.counter(
    'process_cpu_system_seconds_total',
    'Total system CPU time spent in seconds.',
  );
  const cpuTotal = reg.counter(
    'process_cpu_seconds_total',
    'Total user and system CPU time spent in seconds.',
  );
  const startTime = reg.gauge(
    'process_start_time_seconds',
    'Start time of the process since unix epoch in seconds.',
  );
  const rss = reg.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const linux = process.platform === 'linux';
  const openFds = linux ? reg.gauge('process_open_fds', 'Number of open file descriptors.') : undefined;
  const maxFdsValue = linux ? readMaxFds() : undefined;
  const maxFds =
    maxFdsValue === undefined
      ? undefined
      : reg.gauge('process_max_fds', 'Maximum number of open file descriptors.');
  const lag = reg.gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.');
  const lagStats = {
    min: reg.gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.'),
    max: reg.gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.'),
    mean: reg.gauge('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.'),
    stddev: reg.gauge(
      'nodejs_eventloop_lag_stddev_seconds',
      'The standard deviation of the recorded event loop delays.',
    ),
    p50: reg.gauge(
      'nodejs_eventloop_lag_p50_seconds',
      'The 50th percentile of the recorded event loop delays.',
    ),
    p90: reg.gauge(
      'nodejs_eventloop_lag_p90_seconds',
      'The 90th percentile of the recorded event loop delays.',
    ),
    p99: reg.gauge(
      'nodejs_eventloop_lag_p99_seconds',
      'The 99th percentile of the recorded event loop delays.',
    ),
  };
  const heapTotal = reg.gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.');
  const heapUsed = reg.gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
  const external = reg.gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.');
  const version = reg.gauge('nodejs_version_info', 'Node.js version info.', [
    'version',
    'major',
    'minor',
    'patch',
  ]);

  const [major = '', minor = '', patch = ''] = process.version.slice(1).split('.');
  version.labels(process.version, major, minor, patch).set(1);
  // Same derivation as prom-client, so the value does not move between scrapes.
  startTime.set(Math.round(Date.now() / 1000 - process.uptime()));
  if (maxFds !== undefined && maxFdsValue !== undefined) maxFds.set(maxFdsValue);

  // The delay is measured to the nanosecond whatever the resolution, which only sets how often the loop is
  // sampled. The default 10 ms meant 100 wakeups a second, 0.7 % of a core on an otherwise idle exporter.
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  delay.enable();
  let probeStart: bigint | undefined;
  let lastLag = 0;
  const finishProbe = (): void => {
    if (probeStart !== undefined) lastLag = Number(process.hrtime.bigint() - probeStart) / 1e9;
    probeStart = undefined;
  };

  const c = { user: cpuUser.labels(), system: cpuSystem.labels(), total: cpuTotal.labels() };
  reg.onCollect(() => {
    const cpu = process.cpuUsage();
    c.user.value = cpu.user / 1e6;
    c.system.value = cpu.system / 1e6;
    c.total.value = (cpu.user + cpu.system) / 1e6;

    const mem = process.memoryUsage();
    rss.set(mem.rss);
    heapTotal.set(mem.heapTotal);
    heapUsed.set(mem.heapUsed);
    external.set(mem.external);

    if (openFds !== undefined) {
      try {
        // readdirSync's own descriptor is in the listing and closed by the time it returns.
        openFds.set(readdirSync('/proc/self/fd').length - 1);
      } catch {
        // /proc may be hidden in a sandbox; keep the last value.
      }
    }

    lag.set(lastLag);
    if (probeStart === undefined) {
      probeStart = process.hrtime.bigint();
      setImmediate(finishProbe);
    }

    // Before the first sample min reads about 9.2e18 ns and mean/stddev NaN; 0 is the honest value then.
    const has = delay.count > 0;
    lagStats.min.set(has ? lateBy(delay.min) : 0);
    lagStats.max.set(has ? lateBy(delay.max) : 0);
    lagStats.mean.set(has ? lateBy(delay.mean) : 0);
    lagStats.stddev.set(has ? delay.stddev / 1e9 : 0);
    lagStats.p50.set(has ? lateBy(delay.percentile(50)) : 0);
    lagStats.p90.set(has ? lateBy(delay.percentile(90)) : 0);
    lagStats.p99.set(has ? lateBy(delay.percentile(99)) : 0);
    delay.reset();
  });

  return () => delay.disable();
}

/**
 * The monitor records the whole interval between its samples, so an idle loop reads the resolution
 * itself. What an operator wants is how late the loop was: the interval less the schedule, in seconds.
 */
function lateBy(intervalNs: number): number {
  return Math.max(0, intervalNs / 1e9 - EVENT_LOOP_SAMPLE_MS / 1000);
}

function readMaxFds(): number | undefined {
  try {
    for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n')) {
      if (line.startsWith('Max open files')) {
        const soft = Number(line.slice('Max open files'.length).trim().split(/\s+/)[0]);
        return Number.isFinite(soft) ? soft : undefined;
      }
    }
  } catch {
    // Not Linux-like enough; the metric is simply not registered.
  }
  return undefined;
}
