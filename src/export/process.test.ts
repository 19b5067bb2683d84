import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registerProcessMetrics } from './process.js';
import { type CounterFamily, type GaugeFamily, Registry } from './registry.js';

function value(reg: Registry, name: string): number {
  const f = reg.getFamily(name) as CounterFamily | GaugeFamily | undefined;
  assert.ok(f, `${name} is registered`);
  const v = f.get();
  assert.equal(typeof v, 'number', name);
  return v!;
}

test('process metrics carry prom-client names and plausible values', async () => {
  const reg = new Registry();
  const stop = registerProcessMetrics(reg);
  try {
    const first = reg.render('text');
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_cpu_system_seconds_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_external_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.ok(first.includes(`\n# TYPE ${name} `), name);
    }
    const user = value(reg, 'process_cpu_user_seconds_total');
    const system = value(reg, 'process_cpu_system_seconds_total');
    assert.ok(user > 0);
    assert.ok(Math.abs(value(reg, 'process_cpu_seconds_total') - (user + system)) < 1e-9);
    assert.ok(value(reg, 'process_resident_memory_bytes') > 1e6);
    assert.ok(value(reg, 'nodejs_heap_size_used_bytes') > 0);
    const start = value(reg, 'process_start_time_seconds');
    assert.ok(Number.isInteger(start));
    assert.ok(start <= Date.now() / 1000 + 1 && start >= Date.now() / 1000 - process.uptime() - 2);
    // The first collect only starts the probe; its result shows in the next render.
    assert.equal(value(reg, 'nodejs_eventloop_lag_seconds'), 0);
    await new Promise((resolve) => setImmediate(resolve));
    reg.render('openmetrics');
    assert.ok(value(reg, 'nodejs_eventloop_lag_seconds') > 0);
    for (const s of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) {
      const v = value(reg, `nodejs_eventloop_lag_${s}_seconds`);
      assert.ok(Number.isFinite(v) && v >= 0 && v < 3600, `${s}: ${v}`);
    }
    const [major, minor, patch] = process.version.slice(1).split('.');
    assert.ok(
      first.includes(
        `nodejs_version_info{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"} 1\n`,
      ),
    );
    if (process.platform === 'linux') assert.ok(value(reg, 'process_open_fds') > 0);
  } finally {
    stop();
  }
});

test('registering process metrics twice is refused', () => {
  const reg = new Registry();
  const stop = registerProcessMetrics(reg);
  try {
    assert.throws(() => registerProcessMetrics(reg), /process_cpu_user_seconds_total is already registered/);
  } finally {
    stop();
  }
});

test('event-loop lag statistics leave out the sampling interval: an idle loop reads near 0', async () => {
  const reg = new Registry();
  const stop = registerProcessMetrics(reg);
  try {
    reg.render('text');
    // Long enough for three samples of the 100 ms monitor, with the loop idle throughout.
    await new Promise((resolve) => setTimeout(resolve, 350));
    reg.render('text');
    // The raw monitor reads at least 0.1 s here; what is left is scheduling jitter.
    assert.ok(value(reg, 'nodejs_eventloop_lag_min_seconds') < 0.08);
    assert.ok(value(reg, 'nodejs_eventloop_lag_p50_seconds') < 0.08);
  } finally {
    stop();
  }
});
