import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const at = (path: string) => join(ROOT, path);

describe('systemd units', () => {
  for (const unit of ['tkmprom.service', 'tkmprom-broker.service']) {
    test(`${unit} passes systemd-analyze verify without a warning`, () => {
      const text = readFileSync(at(`deploy/systemd/${unit}`), 'utf8');
      // verify checks that ExecStart's program exists: point it at this machine's node; the
      // script path after it is an argument and is not checked.
      assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/tkmprom\/dist\/cli\/main\.js /m);
      const dir = mkdtempSync(join(tmpdir(), 'tkmprom-unit-'));
      writeFileSync(
        join(dir, unit),
        text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `),
      );
      const r = spawnSync('systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(r.stderr, '');
    });
  }

  test('the exporter unit runs as its own user with its state directory and hardening', () => {
    const text = readFileSync(at('deploy/systemd/tkmprom.service'), 'utf8');
    for (const line of [
      'DynamicUser=yes',
      'StateDirectory=tkmprom',
      'EnvironmentFile=-/etc/tkmprom/tkmprom.env',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'CapabilityBoundingSet=',
      'Restart=on-failure',
    ]) {
      assert.ok(text.split('\n').includes(line), `tkmprom.service lacks ${line}`);
    }
    assert.match(text, /^ExecStart=.* run .*--state-dir \/var\/lib\/tkmprom$/m);
  });
});

describe('Prometheus and Grafana provisioning', () => {
  test('prometheus.yml is valid, scrapes tkmprom and loads the rule files that exist', () => {
    const r = spawnSync('promtool', ['check', 'config', at('deploy/prometheus/prometheus.yml')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 2 rule files found/);
    const config = parseYaml(readFileSync(at('deploy/prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    assert.deepEqual(config.rule_files, ['alerts.yml', 'recording.yml']);
    for (const file of config.rule_files) assert.ok(existsSync(at(join('deploy/prometheus', file))), file);
    assert.deepEqual(
      config.scrape_configs.map((s) => [s.job_name, s.static_configs[0]!.targets]),
      [['tkmprom', ['127.0.0.1:9883']]],
    );
  });

  test('the Grafana datasource is the default Prometheus the dashboards expect', () => {
    const ds = parseYaml(readFileSync(at('deploy/grafana/provisioning/datasources/tkmprom.yml'), 'utf8')) as {
      apiVersion: number;
      datasources: { type: string; uid: string; url: string; isDefault: boolean }[];
    };
    assert.equal(ds.apiVersion, 1);
    assert.equal(ds.datasources.length, 1);
    assert.equal(ds.datasources[0]!.type, 'prometheus');
    assert.equal(ds.datasources[0]!.isDefault, true);
    assert.equal(new URL(ds.datasources[0]!.url).port, '9090');
  });

  test('the dashboard provider names a path the shipped dashboards are installed to', () => {
    const text = readFileSync(at('deploy/grafana/provisioning/dashboards/tkmprom.yml'), 'utf8');
    const provider = parseYaml(text) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    assert.equal(provider.apiVersion, 1);
    assert.equal(provider.providers.length, 1);
    assert.equal(provider.providers[0]!.type, 'file');
    const path = provider.providers[0]!.options.path;
    assert.equal(path, '/var/lib/grafana/dashboards/tkmprom');
    // The README installs the JSON files there; the source folder must hold exactly the four views.
    const readme = readFileSync(at('README.md'), 'utf8');
    assert.ok(readme.includes(`deploy/grafana/dashboards/*.json ${path}/`), 'README copies the dashboards');
    const dashboards = readdirSync(at('deploy/grafana/dashboards')).sort();
    assert.deepEqual(dashboards, [
      'tkmprom-exporter.json',
      'tkmprom-fleet.json',
      'tkmprom-streams.json',
      'tkmprom-symbols.json',
    ]);
    const uids = new Set<string>();
    for (const file of dashboards) {
      const d = JSON.parse(readFileSync(at(join('deploy/grafana/dashboards', file)), 'utf8')) as {
        uid: string;
        templating: { list: { name: string }[] };
        panels: { type: string; title: string; targets?: { expr: string }[] }[];
      };
      uids.add(d.uid);
      assert.deepEqual(
        d.templating.list.map((v) => v.name),
        ['datasource', 'job', 'instance'],
      );
      for (const p of d.panels.filter((p) => p.type !== 'row')) {
        assert.ok((p.targets ?? []).length > 0, `${file}: ${p.title} has no query`);
        for (const t of p.targets!) {
          // A series recorded for the whole fleet (job:..., job_symbol:...) has no instance.
          const fleetWide = /\bjob(_[a-z]+)*:[a-z_]+:[a-z0-9_]+\{job=~"\$job"\}/.test(t.expr);
          assert.ok(
            t.expr.includes('job=~"$job", instance=~"$instance"') || fleetWide,
            `${file}: ${p.title}: ${t.expr} ignores $job or $instance`,
          );
        }
      }
    }
    assert.equal(uids.size, 4);
  });
});

interface AlertTest {
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
}

describe('alert unit tests', () => {
  test('every alert has a promtool case where it fires and one where it does not', () => {
    const rules = parseYaml(readFileSync(at('deploy/prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { alert?: string }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    assert.equal(alerts.length, 14);
    const tests = parseYaml(readFileSync(at('deploy/prometheus/alerts.test.yml'), 'utf8')) as {
      tests: AlertTest[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const missing: string[] = [];
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${alert} never fires`);
      if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${alert} always fires`);
    }
    assert.deepEqual(missing, [], 'add the missing cases to deploy/prometheus/alerts.test.yml');
    for (const c of cases)
      assert.ok(alerts.includes(c.alertname), `${c.alertname} is tested but not defined`);
  });
});
