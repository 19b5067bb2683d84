import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { hasOpenssl, makePki, type TestPki } from './helpers/certs.js';
import { eventually, freePort, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';

/**
 * The exporter as operators secure it: its own process with an exporter-toolkit web config holding
 * TLS and one bcrypt user, and a real Prometheus scraping it over HTTPS with basic auth.
 */

const USER = 'prometheus';
const PASSWORD = 'correct horse battery staple';
const HASH = bcrypt.hashSync(PASSWORD, 10);
const TOKEN = 'api-token-0123456789';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('the exporter behind its web config', {
  skip: hasOpenssl ? false : 'openssl not found on PATH',
}, () => {
  let dir: string;
  let pki: TestPki;
  let broker: Mosquitto;
  let exporter: ChildProcess;
  let out = '';
  let port: number;
  let base: string;

  function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${base}${path}`,
        { ca: readFileSync(pki.caCert), headers, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tkmprom-web-config-it-'));
    mkdirSync(join(dir, 'tls'));
    pki = makePki(join(dir, 'tls'));
    // Relative paths, taken from the web config file's directory.
    writeFileSync(
      join(dir, 'web-config.yml'),
      [
        'tls_server_config:',
        '  cert_file: tls/server.pem',
        '  key_file: tls/server.key',
        'basic_auth_users:',
        `  ${USER}: ${HASH}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    broker = await startMosquitto();
    port = await freePort();
    base = `https://127.0.0.1:${port}`;
    exporter = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'src/cli/main.ts', '--mqtt-url', broker.url, '--listen', `127.0.0.1:${port}`],
        ...['--web.config.file', join(dir, 'web-config.yml'), '--api-token-file', join(dir, 'token')],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TKMPROM_LOG_LEVEL: 'debug' } },
    );
    exporter.stdout!.on('data', (d) => {
      out += d;
    });
    exporter.stderr!.on('data', (d) => {
      out += d;
    });
    await eventually(
      async () => {
        if (exporter.exitCode !== null) throw new Error(`exporter exited ${exporter.exitCode}: ${out}`);
        return get('/readyz').then(
          (r) => r.status === 200,
          () => false,
        );
      },
      20_000,
      'the exporter to be ready over HTTPS',
    );
  });

  after(async () => {
    if (exporter && exporter.exitCode === null) {
      const exited = new Promise((r) => exporter.once('exit', r));
      exporter.kill('SIGTERM');
      await exited;
    }
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/metrics needs the user; /healthz and /readyz stay open; plain HTTP gets nothing', async () => {
    const none = await get('/metrics');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="tkmprom"');
    assert.equal((await get('/metrics', { authorization: basic(USER, 'wrong') })).status, 401);
    assert.equal((await get('/metrics', { authorization: basic('nobody', PASSWORD) })).status, 401);
    assert.equal(
      (await get('/metrics', { authorization: `Bearer ${TOKEN}` })).status,
      401,
      'the token opens the API only',
    );
    const ok = await get('/metrics', { authorization: basic(USER, PASSWORD) });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^tkmprom_mqtt_connected 1$/m);
    const again = await get('/metrics', { authorization: basic(USER, PASSWORD) });
    assert.equal(again.status, 200);
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 200);
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest(`http://127.0.0.1:${port}/healthz`, { agent: false }, (res) =>
        resolve(`status ${res.statusCode}`),
      );
      req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
      req.end();
    });
    assert.doesNotMatch(plain, /^status 200/);
  });

  test('the API and the page open with the user or the token', async () => {
    const none = await get('/api/v1/stats');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="tkmprom", Bearer realm="tkmprom"');
    assert.equal((await get('/api/v1/stats', { authorization: basic(USER, PASSWORD) })).status, 200);
    assert.equal((await get('/api/v1/stats', { authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal((await get('/api/v1/stats', { authorization: basic(USER, 'wrong') })).status, 401);
    assert.equal((await get('/api/openapi.json')).status, 401);
    assert.equal((await get('/api/openapi.json', { authorization: `Bearer ${TOKEN}` })).status, 200);
    const page = await get('/');
    assert.equal(page.status, 401);
    assert.equal(page.headers['www-authenticate'], 'Basic realm="tkmprom"');
    assert.equal((await get('/', { authorization: basic(USER, PASSWORD) })).status, 200);
    const login = await get(`/?token=${TOKEN}`);
    assert.equal(login.status, 303);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    assert.match(String(login.headers['set-cookie']), /; Secure$/, 'over TLS the cookie is Secure');
    assert.equal((await get('/', { cookie })).status, 200);
  });

  test('a real Prometheus scrapes it over TLS with basic auth', async () => {
    const promPort = await freePort();
    writeFileSync(join(dir, 'password'), PASSWORD);
    const job = (name: string, passwordFile: string) => [
      `  - job_name: ${name}`,
      '    scheme: https',
      '    basic_auth:',
      `      username: ${USER}`,
      `      password_file: ${passwordFile}`,
      '    tls_config:',
      `      ca_file: ${pki.caCert}`,
      `    static_configs: [{ targets: ['127.0.0.1:${port}'] }]`,
    ];
    writeFileSync(join(dir, 'wrong-password'), 'not it');
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        ...job('tkmprom', join(dir, 'password')),
        ...job('tkmprom-wrong-password', join(dir, 'wrong-password')),
        '',
      ].join('\n'),
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      const value = async (expr: string) => {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`,
        );
        const r = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        return r.data.result.length === 1 ? Number(r.data.result[0]!.value[1]) : undefined;
      };
      await eventually(
        async () =>
          (await value('tkmprom_mqtt_connected{job="tkmprom"}').catch(() => undefined)) === 1 &&
          (await value('up{job="tkmprom-wrong-password"}').catch(() => undefined)) === 0,
        30_000,
        'Prometheus to scrape both jobs',
      );
      assert.equal(await value('up{job="tkmprom"}'), 1);
      assert.equal(await value('tkmprom_mqtt_connected{job="tkmprom"}'), 1);
      assert.equal(await value('up{job="tkmprom-wrong-password"}'), 0);
      assert.equal(await value('tkmprom_mqtt_connected{job="tkmprom-wrong-password"}'), undefined);
    } finally {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
  });

  test('the log never holds the password or its hash', () => {
    assert.match(out, /tkmprom exporter started/);
    assert.match(out, /"tls":true,"basicAuthUsers":1/);
    assert.ok(!out.includes(PASSWORD), 'password logged');
    assert.ok(!out.includes(HASH), 'hash logged');
    assert.ok(!out.includes(HASH.slice(7)), 'hash logged');
  });
});
