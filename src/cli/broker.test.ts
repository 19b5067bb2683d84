import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { readPasswordFile, verifyPassword } from '../broker/passwords.js';
import { BROKER_HELP, type BrokerCommandIo, brokerCommand, parseHostPort } from './broker.js';

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

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:1883', '--listen'), { host: '127.0.0.1', port: 1883 });
  assert.deepEqual(parseHostPort('[::1]:0', '--listen'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort('broker.local:8883', '--tls-listen'), { host: 'broker.local', port: 8883 });
  for (const bad of ['1883', '127.0.0.1', 'host:99999', ':1883', 'a:b', '::1:1883']) {
    assert.throws(() => parseHostPort(bad, '--listen'), {
      message: `--listen: expected HOST:PORT, got "${bad}"`,
    });
  }
});

describe('usage errors name the option and return 2', () => {
  const cases: [string[], string][] = [
    [['--listen', 'nope'], '--listen: expected HOST:PORT, got "nope"'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--acl-file', 'acl.yaml'], '--acl-file needs --password-file'],
    [['--tls-listen', '127.0.0.1:0'], '--tls-listen needs --tls-cert'],
    [['--tls-listen', '127.0.0.1:0', '--tls-cert', 'c.pem'], '--tls-listen needs --tls-key'],
    [['--tls-cert', 'c.pem'], '--tls-cert needs --tls-listen'],
    [['--ws-path', '/mqtt'], '--ws-path needs --ws-listen'],
    [['--max-connections', '0'], '--max-connections: expected a positive integer, got "0"'],
    [['--drain-timeout', 'soon'], '--drain-timeout: expected a duration like 10s or 500ms, got "soon"'],
    [['--log-level', 'loud'], '--log-level: expected one of fatal, error, warn, info, debug, trace, silent'],
    [['--listen', 'off'], '--listen off leaves no listener'],
    [['serve'], 'unexpected argument "serve"'],
    [['add-user', '--username', 'a'], 'add-user: --password-file is required'],
    [['add-user', '--password-file', 'f'], 'add-user: --username is required'],
    [['add-user', '--password-file', 'f', '--username', 'a:b'], 'add-user: --username: "a:b"'],
    [['add-user', '--password', 'x'], "Unknown option '--password'"],
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
      `tkmprom broker: --listen: address 127.0.0.1:${port} is already in use [TKM_LISTEN_ADDRESS_IN_USE]\n`,
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('runs in the foreground, logs JSON, serves MQTT and exits 0 on SIGTERM', {
  timeout: 20_000,
}, async () => {
  const module = fileURLToPath(new URL('./broker.ts', import.meta.url));
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
