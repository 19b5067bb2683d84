import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, freePort, waitForPort } from './helpers/mosquitto.js';

/**
 * No secret in any log line, API answer or error message: the broker password (from the
 * environment, the URL and the config file) and the API token, with the exporter logging at
 * trace, failing to log in, logging in, serving every endpoint and refusing a bad config.
 */
const MQTT_PASSWORD = 'pw-S3CRET-env';
const URL_PASSWORD = 'pw-S3CRET-url';
const FILE_PASSWORD = '918273645';
const API_TOKEN = 'tok-S3CRET-api';
const SECRETS = [MQTT_PASSWORD, URL_PASSWORD, FILE_PASSWORD, API_TOKEN];

let dir: string;
let brokerPort: number;
let broker: ChildProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tkmprom-secrets-'));
  const passwords = join(dir, 'passwords');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwords, 'tkm', MQTT_PASSWORD]);
  // Mosquitto started as root reads its files as the mosquitto user.
  chmodSync(dir, 0o755);
  chmodSync(passwords, 0o644);
  brokerPort = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${brokerPort} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwords}`, ''].join(
      '\n',
    ),
  );
  writeFileSync(join(dir, 'token'), `${API_TOKEN}\n`);
  broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await waitForPort(brokerPort, 5000);
});

after(() => {
  broker?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  output: string;
  code: number | null;
}

/** Runs `tkmprom run` until `whileRunning` is done, then SIGTERM; all it wrote, both streams. */
async function runExporter(
  args: string[],
  env: NodeJS.ProcessEnv,
  whileRunning: (url: string, output: () => string) => Promise<string[]>,
): Promise<{ run: Run; bodies: string[] }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'run', ...args, '--listen', `127.0.0.1:${port}`],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  let bodies: string[] = [];
  try {
    await waitForPort(port, 20_000);
    bodies = await whileRunning(url, () => output);
  } finally {
    child.kill('SIGTERM');
  }
  return { run: { output, code: await exited }, bodies };
}

/** Every endpoint, with the token where one is needed; the bodies and headers as text. */
async function everyAnswer(url: string): Promise<string[]> {
  const paths = [
    '/metrics',
    '/healthz',
    '/readyz',
    '/',
    '/api/openapi.json',
    '/api/v1/stats',
    '/api/v1/streams',
    '/api/v1/symbols',
    '/api/v1/devices',
    '/api/v1/trends',
    '/api/v1/nope',
  ];
  const texts: string[] = [];
  for (const path of paths) {
    for (const headers of [{}, { authorization: `Bearer ${API_TOKEN}` }] as Record<string, string>[]) {
      const res = await fetch(url + path, { headers });
      texts.push(`${path} ${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}`);
    }
  }
  const wrong = await fetch(`${url}/?token=not-${API_TOKEN}`, { redirect: 'manual' });
  texts.push(`${JSON.stringify([...wrong.headers])}\n${await wrong.text()}`);
  const right = await fetch(`${url}/?token=${API_TOKEN}`, { redirect: 'manual' });
  texts.push(`${right.status} ${right.headers.get('location')}\n${await right.text()}`);
  return texts;
}

function assertNoSecret(texts: string[], where: string): void {
  for (const text of texts) {
    for (const secret of SECRETS) {
      assert.ok(!text.includes(secret), `${where} holds a secret: ${text.slice(0, 2000)}`);
    }
  }
}

test('a refused login, logged at trace, names the broker without its credentials', async () => {
  const { run, bodies } = await runExporter(
    [
      '--mqtt-url',
      `mqtt://tkm:${URL_PASSWORD}@127.0.0.1:${brokerPort}`,
      '--api-token-file',
      join(dir, 'token'),
      '--log-level',
      'trace',
    ],
    {},
    async (url, output) => {
      await eventually(() => output().includes('Not authorized'), 15_000, 'the refusal to be logged');
      return everyAnswer(url);
    },
  );
  assert.equal(run.code, 0);
  assert.match(run.output, /mqtt:\/\/\*\*\*@127\.0\.0\.1/);
  assertNoSecret([run.output], 'the log');
  assertNoSecret(bodies, 'an answer');
});

test('a working login and every endpoint, with the token, show neither password nor token', async () => {
  const { run, bodies } = await runExporter(
    [
      '--mqtt-url',
      `mqtt://127.0.0.1:${brokerPort}`,
      '--api-token-file',
      join(dir, 'token'),
      '--log-level',
      'trace',
    ],
    { TKMPROM_MQTT_USERNAME: 'tkm', TKMPROM_MQTT_PASSWORD: MQTT_PASSWORD },
    async (url) => {
      await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, 'ready');
      return everyAnswer(url);
    },
  );
  assert.equal(run.code, 0);
  assert.match(run.output, /mqtt subscribed/);
  assert.equal(bodies.filter((b) => b.startsWith('/api/v1/stats 200')).length, 1);
  assertNoSecret([run.output], 'the log');
  assertNoSecret(bodies, 'an answer');
});

test('a config error about the password does not repeat it', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, `mqtt:\n  password: ${FILE_PASSWORD}\n`);
  const r = spawnSyncText(['run', '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.output, /TKM_CONFIG_INVALID/);
  assert.match(r.output, /mqtt\.password/);
  assertNoSecret([r.output], 'the error');
});

function spawnSyncText(args: string[]): Run {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { output: out, code: 0 };
  } catch (err) {
    const e = err as { status: number | null; stdout: string; stderr: string };
    return { output: `${e.stdout}${e.stderr}`, code: e.status };
  }
}
