import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { readPasswordFile, verifyPassword } from '../broker/index.js';
import { BROKER_HELP, type BrokerCommandIo, brokerCommand } from './broker.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tkmprom-cli-broker-test-'));
  dirs.push(dir);
  return dir;
}

function fakeIo(stdinText = ''): BrokerCommandIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdin = new PassThrough();
  stdin.end(stdinText);
  return {
    stdout: {
      write: (s: string) => {
        out += s;
        return true;
      },
    } as unknown as NodeJS.WritableStream,
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
    } as unknown as NodeJS.WritableStream,
    stdin,
    out: () => out,
    err: () => err,
  };
}

describe('usage errors name the option and return 2', () => {
  const cases: [string[], string][] = [
    [['--bogus'], 'unknown option --bogus'],
    [['--tls-lisen', 'x'], 'unknown option --tls-lisen; did you mean --tls-listen?'],
    [['serve'], 'unexpected argument "serve"'],
    [['add-user', '--username', 'a'], 'add-user: --password-file is required'],
    [['add-user', '--password-file', 'f'], 'add-user: --username is required'],
    [['add-user', '--password-file', 'f', '--username', 'a:b'], 'add-user: --username: "a:b"'],
    [
      ['add-user', '--password', 'x'],
      'add-user: unknown option --password (the password comes from TKMPROM_BROKER_PASSWORD or standard input, never from the command line)',
    ],
  ];
  for (const [args, message] of cases) {
    test(args.join(' '), async () => {
      const io = fakeIo();
      assert.equal(await brokerCommand(args, {}, io), 2);
      assert.ok(io.err().startsWith('tkmprom broker: '), io.err());
      assert.ok(io.err().includes(message), io.err());
    });
  }
});

describe('bad settings name the option as typed, carry TKM_CONFIG_INVALID and return 1', () => {
  const cases: [string[], string][] = [
    [
      ['--listen', 'nope'],
      'broker.listen (--listen): expected HOST:PORT such as 127.0.0.1:1883, or off, got "nope"',
    ],
    [['--tls-listen', '127.0.0.1:0'], '--tls-listen (broker.tlsListen) needs --tls-cert (broker.tlsCert)'],
    [
      ['--tls-listen', '127.0.0.1:0', '--tls-cert', 'c.pem'],
      '--tls-listen (broker.tlsListen) needs --tls-key (broker.tlsKey)',
    ],
    [['--tls-cert', 'c.pem'], '--tls-cert (broker.tlsCert) needs --tls-listen (broker.tlsListen)'],
    [['--ws-path', '/mqtt'], '--ws-path (broker.wsPath) needs --ws-listen (broker.wsListen)'],
    [
      ['--ws-listen', '127.0.0.1:0', '--ws-path', 'mqtt'],
      'broker.wsPath (--ws-path): expected a path starting with "/", got "mqtt"',
    ],
    [['--max-connections', '0'], 'broker.maxConnections (--max-connections): must be at least 1, got 0'],
    [
      ['--max-connections', 'many'],
      'broker.maxConnections (--max-connections): expected a whole number, got "many"',
    ],
    [
      ['--drain-timeout', 'soon'],
      'broker.drainTimeout (--drain-timeout): expected a duration such as 10s (a number and ms, s, m, h or d), got "soon"',
    ],
    [
      ['--log-level', 'loud'],
      'log.level (--log-level): expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      ['--sys-interval', '500ms'],
      'broker.sysInterval (--sys-interval): expected 0s (no $SYS topics) or at least 1s, got "500ms"',
    ],
    [
      ['--listen', 'off'],
      '--listen off leaves no listener: add --tls-listen (broker.tlsListen) or --ws-listen (broker.wsListen)',
    ],
  ];
  for (const [args, message] of cases) {
    test(`${args.join(' ')}: ${message}`, async () => {
      const io = fakeIo();
      assert.equal(await brokerCommand(args, {}, io), 1);
      assert.ok(io.err().startsWith('tkmprom broker: '), io.err());
      assert.ok(io.err().includes(message), io.err());
      assert.ok(io.err().trimEnd().endsWith('[TKM_CONFIG_INVALID]'), io.err());
    });
  }

  test('from the environment and the config file, the error names the variable or the file', async () => {
    const io = fakeIo();
    assert.equal(await brokerCommand([], { TKMPROM_BROKER_DRAIN_TIMEOUT: 'soon' }, io), 1);
    assert.ok(io.err().includes('broker.drainTimeout (TKMPROM_BROKER_DRAIN_TIMEOUT): '), io.err());
    const dir = await mkdtemp(join(tmpdir(), 'tkmprom-broker-config-'));
    const file = join(dir, 'tkmprom.yaml');
    await writeFile(file, 'broker:\n  tlsCert: c.pem\n');
    const io2 = fakeIo();
    assert.equal(await brokerCommand(['--config', file], {}, io2), 1);
    assert.equal(
      io2.err(),
      `tkmprom broker: broker.tlsCert (${file} line 2) needs --tls-listen (broker.tlsListen) [TKM_CONFIG_INVALID]\n`,
    );
    const io3 = fakeIo();
    assert.equal(await brokerCommand([], { TKMPROM_BROKER_TLS_CERT: 'c.pem' }, io3), 1);
    assert.equal(
      io3.err(),
      'tkmprom broker: TKMPROM_BROKER_TLS_CERT (broker.tlsCert) needs --tls-listen (broker.tlsListen) [TKM_CONFIG_INVALID]\n',
    );
  });
});

test('--help prints BROKER_HELP', async () => {
  const io = fakeIo();
  assert.equal(await brokerCommand(['--help'], {}, io), 0);
  assert.equal(io.out(), BROKER_HELP);
});

test('add-user reads the password from the environment or stdin, never a flag', async () => {
  const dir = await tempDir();
  const file = join(dir, 'passwd');
  const io1 = fakeIo('ignored\n');
  assert.equal(
    await brokerCommand(
      ['add-user', '--password-file', file, '--username', 'alice'],
      { TKMPROM_BROKER_PASSWORD: 'from-env' },
      io1,
    ),
    0,
  );
  assert.equal(io1.out(), `user "alice" written to ${file}\n`);
  const io2 = fakeIo('from-stdin\n');
  assert.equal(await brokerCommand(['add-user', '--password-file', file, '--username', 'bob'], {}, io2), 0);
  const users = await readPasswordFile(file);
  assert.equal(await verifyPassword('from-env', users.get('alice')!), true);
  assert.equal(await verifyPassword('from-stdin', users.get('bob')!), true);
  assert.ok(!(await readFile(file, 'utf8')).includes('from-'));

  const io3 = fakeIo('');
  assert.equal(await brokerCommand(['add-user', '--password-file', file, '--username', 'carol'], {}, io3), 2);
  assert.match(io3.err(), /the password is empty/);
});

test('a taken port fails with exit 1 and names --listen', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as net.AddressInfo).port;
    const io = fakeIo();
    assert.equal(await brokerCommand(['--listen', `127.0.0.1:${port}`, '--log-level', 'silent'], {}, io), 1);
    assert.equal(
      io.err(),
      `tkmprom broker: --listen: address 127.0.0.1:${port} is already in use; pick another port for --listen [TKM_LISTEN_ADDRESS_IN_USE]\n`,
    );
    const fromEnv = fakeIo();
    assert.equal(
      await brokerCommand(['--log-level', 'silent'], { TKMPROM_BROKER_LISTEN: `127.0.0.1:${port}` }, fromEnv),
      1,
    );
    assert.equal(
      fromEnv.err(),
      `tkmprom broker: TKMPROM_BROKER_LISTEN: address 127.0.0.1:${port} is already in use; pick another port for TKMPROM_BROKER_LISTEN [TKM_LISTEN_ADDRESS_IN_USE]\n`,
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('runs in the foreground, logs JSON, serves MQTT, /metrics and /healthz, and exits 0 on SIGTERM', {
  timeout: 20_000,
}, async () => {
  const module = fileURLToPath(new URL('./broker.ts', import.meta.url));
  const httpPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import(${JSON.stringify(module)}).then((m) => m.brokerCommand(process.argv.slice(1))).then((c) => process.exit(c))`,
      '--',
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      `127.0.0.1:${httpPort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const started = stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg: string; mqtt?: string })
          .find((l) => l.msg === 'broker started');
        if (started?.mqtt) {
          child.stdout.off('data', onData);
          resolve(started.mqtt);
        }
      };
      child.stdout.on('data', onData);
      child.once('close', (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
    });
    assert.match(url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const pub = spawn('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      new URL(url).port,
      '-t',
      'cli/test',
      '-m',
      'x',
    ]);
    assert.equal(await new Promise((resolve) => pub.once('close', resolve)), 0);
    const http = `http://127.0.0.1:${httpPort}`;
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    assert.match(metrics, /^tkmprom_broker_messages_received_total\{qos="0"\} 1$/m);
    assert.match(metrics, /^tkmprom_broker_clients_connected 0$/m);
    assert.match(metrics, /^process_resident_memory_bytes \d+$/m);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const messages = stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.deepEqual(messages.slice(-2), ['stopping', 'broker stopped']);
  } finally {
    clearTimeout(killTimer);
    child.kill('SIGKILL');
  }
});
