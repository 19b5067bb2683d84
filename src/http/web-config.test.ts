import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request, type Server as TlsServer } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { copyFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { hasOpenssl, makePki, type TestPki } from '../../test/helpers/certs.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { Registry } from '../export/index.js';
import { silentLogger } from '../log.js';
import { Auth } from './auth.js';
import { startHttpServer } from './server.js';
import {
  BasicAuth,
  loadWebConfig,
  parseWebConfig,
  watchCertificates,
  webAuthorizer,
  type WebConfig,
} from './web-config.js';

// Cost 4, the format's minimum, keeps the unit tests fast; the integration test uses cost 10.
const HASH = bcrypt.hashSync('s3cret pass', 4);
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let dir: string;
let pki: TestPki;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tkmprom-web-config-'));
  mkdirSync(join(dir, 'tls'));
  pki = makePki(join(dir, 'tls'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a web config file into the temp dir and loads it. */
function load(name: string, yaml: string): WebConfig {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return loadWebConfig(file);
}

function fails(yaml: string, code: string, message: RegExp, name = 'web.yml'): TkmpromError {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  let caught: unknown;
  try {
    loadWebConfig(file);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TkmpromError, `expected a TkmpromError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, message);
  assert.ok(caught.message.startsWith(`web config file ${file}: `), caught.message);
  return caught;
}

const INVALID = ErrorCodes.WEB_CONFIG_INVALID;

describe('web config: parsing', { skip: hasOpenssl ? false : 'openssl not found on PATH' }, () => {
  test('TLS, users and headers, with paths relative to the file', () => {
    const web = load(
      'full.yml',
      [
        'tls_server_config:',
        '  cert_file: tls/server.pem',
        '  key_file: ./tls/server.key',
        '  client_ca_file: tls/ca.pem',
        '  client_auth_type: RequireAndVerifyClientCert',
        '  min_version: TLS13',
        'http_server_config:',
        '  http2: true',
        '  headers:',
        '    Strict-Transport-Security: max-age=31536000',
        '    x-frame-options: deny',
        'basic_auth_users:',
        `  prometheus: ${HASH}`,
        `  grafana: '${HASH}'`,
      ].join('\n'),
    );
    assert.equal(web.tls?.cert, readFileSync(pki.serverCert, 'utf8'));
    assert.equal(web.tls?.key, readFileSync(pki.serverKey, 'utf8'));
    assert.equal(web.tls?.ca, readFileSync(pki.caCert, 'utf8'));
    assert.equal(web.tls?.minVersion, 'TLSv1.3');
    assert.equal(web.tls?.maxVersion, 'TLSv1.3');
    assert.equal(web.tls?.requestCert, true);
    assert.equal(web.tls?.rejectUnauthorized, true);
    assert.equal(web.clientCertCheck, 'none');
    assert.deepEqual(web.headers, [
      ['Strict-Transport-Security', 'max-age=31536000'],
      ['X-Frame-Options', 'deny'],
    ]);
    assert.deepEqual(web.users?.users, ['prometheus', 'grafana']);
  });

  test('relative paths follow the file, not the working directory', () => {
    const sub = join(dir, 'nested');
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(sub, 'web.yml'),
      'tls_server_config:\n  cert_file: ../tls/server.pem\n  key_file: ../tls/server.key\n',
    );
    const cwd = process.cwd();
    try {
      process.chdir(tmpdir());
      assert.equal(loadWebConfig(join(sub, 'web.yml')).tls?.cert, readFileSync(pki.serverCert, 'utf8'));
      process.chdir(dir);
      assert.equal(loadWebConfig('nested/web.yml').tls?.key, readFileSync(pki.serverKey, 'utf8'));
    } finally {
      process.chdir(cwd);
    }
  });

  test('defaults: TLS 1.2 to 1.3, no client certificate; an empty file or section sets nothing', () => {
    const web = load(
      'tls.yml',
      'tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n',
    );
    assert.equal(web.tls?.minVersion, 'TLSv1.2');
    assert.equal(web.tls?.maxVersion, 'TLSv1.3');
    assert.equal(web.tls?.requestCert, false);
    assert.equal(web.tls?.ca, undefined);
    assert.equal(web.users, undefined);
    for (const yaml of [
      '',
      '# nothing yet\n',
      'basic_auth_users:\ntls_server_config:\nhttp_server_config:\n',
    ]) {
      const empty = load('empty.yml', yaml);
      assert.equal(empty.tls, undefined);
      assert.equal(empty.users, undefined);
      assert.deepEqual(empty.headers, []);
    }
  });

  test('inline PEM and the client policies that check after the handshake', () => {
    const cert = JSON.stringify(readFileSync(pki.serverCert, 'utf8'));
    const key = JSON.stringify(readFileSync(pki.serverKey, 'utf8'));
    const any = load(
      'inline.yml',
      `tls_server_config:\n  cert: ${cert}\n  key: ${key}\n  client_auth_type: RequireAnyClientCert\n`,
    );
    assert.equal(any.tls?.cert, readFileSync(pki.serverCert, 'utf8'));
    assert.deepEqual(
      [any.tls?.requestCert, any.tls?.rejectUnauthorized, any.clientCertCheck],
      [true, false, 'present'],
    );
    const ifGiven = load(
      'given.yml',
      'tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n  client_ca_file: tls/ca.pem\n  client_auth_type: VerifyClientCertIfGiven\n',
    );
    assert.deepEqual(
      [ifGiven.tls?.requestCert, ifGiven.tls?.rejectUnauthorized, ifGiven.clientCertCheck],
      [true, false, 'verified-if-present'],
    );
  });

  const TLS = 'tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n';

  test('every mistake names the file, the key and the fix', () => {
    const cases: [string, string, RegExp][] = [
      [
        'tls: {}\n',
        INVALID,
        /^web config file \S+: tls: unknown key; remove it or use one of tls_server_config, http_server_config, basic_auth_users$/,
      ],
      [
        `${TLS}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n`,
        INVALID,
        /tls_server_config\.cipher_suites: not supported by tkmprom: remove it \(Node's default cipher suites apply\)$/,
      ],
      ['rate_limit:\n  burst: 1\n', INVALID, /: rate_limit: not supported by tkmprom: remove it/],
      [
        `${TLS}  certfile: x\n`,
        INVALID,
        /tls_server_config\.certfile: unknown key; remove it or use one of cert_file, key_file, cert, key, client_ca_file, client_ca, client_auth_type, min_version, max_version, prefer_server_cipher_suites$/,
      ],
      [
        'http_server_config:\n  http3: true\n',
        INVALID,
        /http_server_config\.http3: unknown key; remove it or use one of http2, headers$/,
      ],
      [
        'tls_server_config: yes\n',
        INVALID,
        /: tls_server_config: expected a mapping of TLS settings \(cert_file, key_file, \.\.\.\)$/,
      ],
      [
        'basic_auth_users: [alice]\n',
        INVALID,
        /: basic_auth_users: expected a mapping of user names to bcrypt hashes$/,
      ],
      [
        'http_server_config:\n  headers: nosniff\n',
        INVALID,
        /: http_server_config\.headers: expected a mapping of header names to values$/,
      ],
      [
        `${TLS}  client_auth_type: RequireClientCerts\n`,
        INVALID,
        /tls_server_config\.client_auth_type: expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert$/,
      ],
      [
        `${TLS}  min_version: TLS1.2\n`,
        INVALID,
        /tls_server_config\.min_version: expected one of TLS10, TLS11, TLS12, TLS13$/,
      ],
      [
        `${TLS}  min_version: TLS13\n  max_version: TLS12\n`,
        INVALID,
        /tls_server_config\.min_version: TLS13 is above max_version TLS12; lower it or raise max_version$/,
      ],
      [
        'tls_server_config:\n  key_file: tls/server.key\n',
        INVALID,
        /tls_server_config\.cert_file: missing: TLS needs the server certificate/,
      ],
      [
        'tls_server_config:\n  cert_file: tls/server.pem\n',
        INVALID,
        /tls_server_config\.key_file: missing: TLS needs the private key/,
      ],
      [
        `${TLS}  cert: inline\n`,
        INVALID,
        /tls_server_config\.cert_file: set either cert_file or cert, not both$/,
      ],
      [
        'tls_server_config:\n  cert_file: ""\n  key_file: tls/server.key\n',
        INVALID,
        /tls_server_config\.cert_file: expected the path of a PEM certificate file, got ""$/,
      ],
      [
        `${TLS}  client_ca_file: tls/ca.pem\n`,
        INVALID,
        /tls_server_config\.client_auth_type: a client CA is set but no client certificate is asked for; set client_auth_type: RequireAndVerifyClientCert/,
      ],
      [
        `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`,
        INVALID,
        /tls_server_config\.client_ca_file: missing: client_auth_type RequireAndVerifyClientCert verifies client certificates against it/,
      ],
      [
        'tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/client.key\n',
        INVALID,
        /: tls_server_config: the certificate, key or CA does not load \(.+\); check that they are PEM and that the key belongs to the certificate$/,
      ],
      [
        'tls_server_config:\n  cert_file: tls/server.ext\n  key_file: tls/server.key\n',
        INVALID,
        /: tls_server_config: the certificate, key or CA does not load/,
      ],
      [
        'http_server_config:\n  headers:\n    Server: tkmprom\n',
        INVALID,
        /http_server_config\.headers\.Server: this header cannot be set; remove it or use one of Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy$/,
      ],
      [
        'http_server_config:\n  headers:\n    X-Frame-Options: allow\n',
        INVALID,
        /http_server_config\.headers\.X-Frame-Options: expected one of deny, sameorigin, got "allow"$/,
      ],
      [
        'http_server_config:\n  headers:\n    X-XSS-Protection: "1\\nSet-Cookie: a=b"\n',
        INVALID,
        /headers\.X-XSS-Protection: the value holds characters a header cannot carry/,
      ],
      [
        'http_server_config:\n  http2: maybe\n',
        INVALID,
        /http_server_config\.http2: expected true or false$/,
      ],
      [
        'basic_auth_users: {}\n',
        INVALID,
        /: basic_auth_users: no users: add `name: <bcrypt hash>` entries or remove the section$/,
      ],
      [
        'basic_auth_users:\n  "a:b": x\n',
        INVALID,
        /basic_auth_users\.a:b: a user name must be non-empty and without ":"/,
      ],
      [
        'basic_auth_users:\n  alice: 12345\n',
        INVALID,
        /basic_auth_users\.alice: not a bcrypt hash \(the value is the hash of the password, never the password itself\); make one with: htpasswd -nBC 10 "" \| tr -d ':\\n'$/,
      ],
      [
        `basic_auth_users:\n  alice: '${HASH.replace('$04$', '$03$')}'\n`,
        INVALID,
        /basic_auth_users\.alice: bcrypt cost 3 is outside 4\.\.16/,
      ],
      [
        `basic_auth_users:\n  alice: '${HASH.replace('$04$', '$17$')}'\n`,
        INVALID,
        /basic_auth_users\.alice: bcrypt cost 17 is outside 4\.\.16 \(above 16 one check takes seconds\)/,
      ],
      [
        '- a\n- b\n',
        INVALID,
        /: expected a mapping with tls_server_config, basic_auth_users and\/or http_server_config$/,
      ],
      ['tls_server_config:\n  cert_file: [unclosed\n', INVALID, /: not valid YAML at line \d+, column \d+: /],
    ];
    for (const [yaml, code, message] of cases) fails(yaml, code, message);
  });

  test('a password written instead of its hash is never repeated', () => {
    const err = fails(
      'basic_auth_users:\n  alice: hunter2-plain\n',
      INVALID,
      /basic_auth_users\.alice: not a bcrypt hash/,
    );
    assert.doesNotMatch(err.message, /hunter2/);
  });

  test('unreadable files: the web config itself, and the files it names, resolved from its directory', () => {
    const missing = join(dir, 'nope.yml');
    assert.throws(
      () => loadWebConfig(missing),
      (err: TkmpromError) =>
        err.code === INVALID &&
        err.message.startsWith(`web config file ${missing}: cannot read it: ENOENT`) &&
        err.message.endsWith('fix the path given to --web.config.file (http.webConfigFile)'),
    );
    for (const key of ['cert_file', 'key_file', 'client_ca_file'] as const) {
      const yaml =
        `tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: tls/ca.pem\n`.replace(
          new RegExp(`${key}: \\S+`),
          `${key}: tls/missing.pem`,
        );
      fails(
        yaml,
        ErrorCodes.TLS_FILE_UNREADABLE,
        new RegExp(
          `: tls_server_config\\.${key}: cannot read ${join(dir, 'tls', 'missing.pem')}: ENOENT.*; fix the path \\(a relative path is taken from the web config file's directory\\)$`,
        ),
      );
    }
  });
});

describe('basic auth verification and its cache', () => {
  const users = new Map([
    ['alice', HASH],
    ['bob', bcrypt.hashSync('other', 4)],
  ]);

  test('right, wrong and unknown credentials; malformed headers cost no check', async () => {
    const auth = new BasicAuth(users);
    for (const header of [
      undefined,
      'Bearer abc',
      'Basic',
      'Basic !!!',
      `Basic ${Buffer.from('no colon').toString('base64')}`,
    ]) {
      assert.equal(auth.verify(header), false);
    }
    assert.equal(auth.checks, 0);
    assert.equal(await auth.verify(basic('alice', 's3cret pass')), true);
    assert.equal(await auth.verify(`basic   ${Buffer.from('bob:other').toString('base64')} `), true);
    assert.equal(await auth.verify(basic('alice', 'other')), false, "bob's password is not alice's");
    assert.equal(await auth.verify(basic('alice', 's3cret pass ')), false);
    assert.equal(await auth.verify(basic('carol', 's3cret pass')), false, 'unknown user');
    assert.equal(await auth.verify(basic('alice', 's3cret pass:x')), false);
    assert.equal(auth.checks, 6);
  });

  test('verdicts are kept for the TTL, right and wrong alike; concurrent checks of one pair run once', async () => {
    let now = 1_000_000;
    const auth = new BasicAuth(users, { cacheTtlMs: 60_000, now: () => now });
    const first = [auth.verify(basic('alice', 's3cret pass')), auth.verify(basic('alice', 's3cret pass'))];
    assert.ok(first[0] instanceof Promise);
    assert.equal(first[0], first[1], 'the second waits for the first check');
    assert.deepEqual(await Promise.all(first), [true, true]);
    assert.equal(await auth.verify(basic('alice', 'wrong')), false);
    assert.equal(auth.checks, 2);
    now += 59_999;
    assert.equal(auth.verify(basic('alice', 's3cret pass')), true, 'answered from the cache, synchronously');
    assert.equal(auth.verify(basic('alice', 'wrong')), false);
    assert.equal(auth.checks, 2);
    now += 1;
    assert.equal(await auth.verify(basic('alice', 's3cret pass')), true);
    assert.equal(auth.checks, 3, 'expired: checked again');
  });

  test('the cache is bounded, oldest first out', async () => {
    const auth = new BasicAuth(users, { cacheSize: 2 });
    await auth.verify(basic('alice', 's3cret pass'));
    await auth.verify(basic('bob', 'other'));
    await auth.verify(basic('alice', 'wrong'));
    assert.equal(auth.checks, 3);
    assert.equal(auth.verify(basic('bob', 'other')), true, 'still cached');
    assert.equal(await auth.verify(basic('alice', 's3cret pass')), true);
    assert.equal(auth.checks, 4, 'the oldest verdict was dropped');
  });

  test('beyond maxPending running checks a request is refused without a check', async () => {
    const auth = new BasicAuth(users, { maxPending: 1 });
    const running = auth.verify(basic('alice', 's3cret pass'));
    assert.equal(auth.verify(basic('bob', 'other')), false);
    assert.equal(await running, true);
    assert.equal(auth.checks, 1);
    assert.equal(await auth.verify(basic('bob', 'other')), true, 'refusals are not cached');
  });
});

describe('the request hook', () => {
  const web = (over: Partial<WebConfig> = {}): WebConfig => ({
    file: 'web.yml',
    tlsFiles: [],
    clientCertCheck: 'none',
    headers: [['X-Frame-Options', 'deny']],
    users: new BasicAuth(new Map([['alice', HASH]])),
    ...over,
  });
  const fakeReq = (authorization?: string, socket: object = {}) =>
    ({
      method: 'GET',
      headers: authorization ? { authorization } : {},
      socket,
    }) as unknown as IncomingMessage;
  function fakeRes() {
    const r = {
      status: 0,
      headers: {} as Record<string, unknown>,
      body: undefined as unknown,
      setHeader(k: string, v: string) {
        r.headers[k.toLowerCase()] = v;
      },
      writeHead(s: number, h: Record<string, string>) {
        r.status = s;
        for (const [k, v] of Object.entries(h)) r.headers[k.toLowerCase()] = v;
      },
      end(b?: unknown) {
        r.body = b;
      },
    };
    return r;
  }
  const url = (p: string) => new URL(p, 'http://localhost');

  test('probes stay open, everything else asks for basic auth; headers go on every answer', async () => {
    const authorize = webAuthorizer(web());
    for (const p of ['/healthz', '/readyz']) {
      const res = fakeRes();
      assert.equal(await authorize(fakeReq(), res as unknown as ServerResponse, url(p)), true);
      assert.deepEqual(res.headers, { 'x-frame-options': 'deny' });
    }
    for (const p of ['/metrics', '/', '/api/v1/stats', '/api/openapi.json', '/nope']) {
      const res = fakeRes();
      assert.equal(
        await authorize(fakeReq(basic('alice', 'no')), res as unknown as ServerResponse, url(p)),
        false,
      );
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="tkmprom"');
      assert.equal(res.headers['x-frame-options'], 'deny');
      assert.match(String(res.body), /^unauthorized: send a user name and password of basic_auth_users/);
    }
    const req = fakeReq(basic('alice', 's3cret pass'));
    assert.equal(await authorize(req, fakeRes() as unknown as ServerResponse, url('/metrics')), true);
    assert.equal(
      new Auth('token', { basicAuth: true }).allows(req),
      true,
      'verified: the token routes let it in',
    );
    assert.equal(new Auth('token', { basicAuth: true }).allows(fakeReq()), false);
    assert.equal(new Auth(undefined, { basicAuth: true }).allows(fakeReq()), false);
  });

  test('with an API token too, the API and the page are left to check it', async () => {
    const authorize = webAuthorizer(web(), { tokenOpensApi: true });
    for (const [p, goesOn] of [
      ['/', true],
      ['/api/v1/stats', true],
      ['/api/openapi.json', true],
      ['/metrics', false],
      ['/apix', false],
    ] as const) {
      const res = fakeRes();
      assert.equal(await authorize(fakeReq('Bearer t'), res as unknown as ServerResponse, url(p)), goesOn, p);
      assert.equal(res.status, goesOn ? 0 : 401, p);
    }
    const auth = new Auth('t', { basicAuth: true });
    assert.equal(auth.challenge, 'Basic realm="tkmprom", Bearer realm="tkmprom"');
    assert.equal(new Auth('t').challenge, 'Bearer realm="tkmprom"');
  });

  test('client certificate policies checked after the handshake drop the connection', () => {
    const socket = (cert: object, authorized: boolean) => {
      const s = {
        destroyed: false,
        authorized,
        getPeerCertificate: () => cert,
        destroy: () => {
          s.destroyed = true;
        },
      };
      return s;
    };
    const cases: [WebConfig['clientCertCheck'], object, boolean, boolean][] = [
      ['present', {}, false, false],
      ['present', { subject: {} }, false, true],
      ['verified-if-present', {}, false, true],
      ['verified-if-present', { subject: {} }, false, false],
      ['verified-if-present', { subject: {} }, true, true],
    ];
    for (const [check, cert, authorized, served] of cases) {
      const s = socket(cert, authorized);
      const ok = webAuthorizer(web({ clientCertCheck: check, users: undefined }))(
        fakeReq(undefined, s),
        fakeRes() as unknown as ServerResponse,
        url('/healthz'),
      );
      assert.equal(ok, served, `${check} ${JSON.stringify(cert)} ${authorized}`);
      assert.equal(s.destroyed, !served);
    }
  });
});

describe('HTTPS with client certificates', { skip: hasOpenssl ? false : 'openssl not found on PATH' }, () => {
  function get(
    url: string,
    opts: { cert?: string; key?: string; authorization?: string } = {},
  ): Promise<{ status: number; headers: Record<string, unknown> } | { error: string }> {
    return new Promise((resolve) => {
      const req = request(
        url,
        {
          ca: readFileSync(pki.caCert),
          cert: opts.cert && readFileSync(opts.cert),
          key: opts.key && readFileSync(opts.key),
          headers: opts.authorization ? { authorization: opts.authorization } : {},
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
        },
      );
      req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      req.end();
    });
  }

  async function serve(yaml: string) {
    const web = load('serve.yml', yaml);
    return startHttpServer({
      host: '127.0.0.1',
      port: 0,
      optionName: '--listen',
      registry: new Registry(),
      ready: () => true,
      logger: silentLogger(),
      tls: web.tls,
      authorize: webAuthorizer(web),
    });
  }
  const base = 'tls_server_config:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n';

  test('RequireAndVerifyClientCert: only a client the CA signed gets an answer', async () => {
    const http = await serve(
      `${base}  client_ca_file: tls/ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n`,
    );
    try {
      assert.match(http.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ok = await get(`${http.url}/metrics`, { cert: pki.clientCert, key: pki.clientKey });
      assert.equal('status' in ok && ok.status, 200);
      assert.ok('error' in (await get(`${http.url}/healthz`)), 'no certificate: no answer');
      assert.ok(
        'error' in (await get(`${http.url}/healthz`, { cert: pki.strangerCert, key: pki.strangerKey })),
      );
    } finally {
      await http.close();
    }
  });

  test('VerifyClientCertIfGiven and RequireAnyClientCert; basic auth on top of TLS', async () => {
    const ifGiven = await serve(
      `${base}  client_ca_file: tls/ca.pem\n  client_auth_type: VerifyClientCertIfGiven\n`,
    );
    try {
      assert.deepEqual(await get(`${ifGiven.url}/healthz`).then((r) => 'status' in r && r.status), 200);
      const signed = await get(`${ifGiven.url}/healthz`, { cert: pki.clientCert, key: pki.clientKey });
      assert.equal('status' in signed && signed.status, 200);
      assert.ok(
        'error' in (await get(`${ifGiven.url}/healthz`, { cert: pki.strangerCert, key: pki.strangerKey })),
      );
    } finally {
      await ifGiven.close();
    }
    const any = await serve(
      `${base}  client_auth_type: RequireAnyClientCert\nbasic_auth_users:\n  alice: ${HASH}\nhttp_server_config:\n  headers:\n    Strict-Transport-Security: max-age=60\n`,
    );
    try {
      assert.ok('error' in (await get(`${any.url}/healthz`)), 'a certificate is required');
      const stranger = { cert: pki.strangerCert, key: pki.strangerKey };
      const open = await get(`${any.url}/healthz`, stranger);
      assert.ok('status' in open);
      assert.equal(open.status, 200);
      assert.equal(open.headers['strict-transport-security'], 'max-age=60');
      const denied = await get(`${any.url}/metrics`, stranger);
      assert.ok('status' in denied);
      assert.equal(denied.status, 401);
      assert.equal(denied.headers['www-authenticate'], 'Basic realm="tkmprom"');
      assert.equal(denied.headers['strict-transport-security'], 'max-age=60');
      const allowed = await get(`${any.url}/metrics`, {
        ...stranger,
        authorization: basic('alice', 's3cret pass'),
      });
      assert.equal('status' in allowed && allowed.status, 200);
    } finally {
      await any.close();
    }
  });
});

test('a renewed certificate is served without a restart; files that do not load are not', {
  skip: hasOpenssl ? false : 'openssl not found on PATH',
}, async () => {
  const renew = join(dir, 'renew');
  mkdirSync(renew, { recursive: true });
  copyFileSync(pki.serverCert, join(renew, 'cert.pem'));
  copyFileSync(pki.serverKey, join(renew, 'key.pem'));
  const web = load('renew/web.yml', 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n');
  assert.deepEqual(web.tlsFiles, [join(renew, 'cert.pem'), join(renew, 'key.pem')]);
  const http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    optionName: '--listen',
    registry: new Registry(),
    ready: () => true,
    logger: silentLogger(),
    tls: web.tls,
  });
  const logged: string[] = [];
  const logger = {
    info: (_: object, msg: string) => logged.push(`info ${msg}`),
    warn: (_: object, msg: string) => logged.push(`warn ${msg}`),
  } as unknown as Logger;
  const watch = watchCertificates(web, http.server as TlsServer, logger, 20);
  const served = () =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: Number(new URL(http.url).port), rejectUnauthorized: false },
        () => {
          const fp = s.getPeerCertificate().fingerprint256;
          s.end();
          resolve(fp);
        },
      );
      s.on('error', reject);
    });
  try {
    const before = await served();
    // A key written before its certificate: kept out, the old pair still served.
    writeFileSync(join(renew, 'key.pem'), readFileSync(pki.strangerKey));
    assert.equal(watch.reload(), false);
    assert.equal(await served(), before);
    writeFileSync(join(renew, 'cert.pem'), readFileSync(pki.strangerCert));
    const deadline = Date.now() + 5000;
    let now = before;
    while (now === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      now = await served();
    }
    assert.notEqual(now, before, 'the watcher loaded the new pair');
    assert.equal(logged[0], 'warn TLS files changed but do not load; still serving the previous certificate');
    assert.ok(logged.includes('info TLS certificate and key reloaded'));
  } finally {
    watch.stop();
    await http.close();
  }
});

test('examples/web-config.yml loads, and its user is "change-me"', {
  skip: hasOpenssl ? false : 'openssl not found on PATH',
}, async () => {
  const web = load('example.yml', readFileSync('examples/web-config.yml', 'utf8'));
  assert.equal(web.tls?.cert, readFileSync(pki.serverCert, 'utf8'));
  assert.deepEqual(web.headers, [
    ['X-Content-Type-Options', 'nosniff'],
    ['X-Frame-Options', 'deny'],
  ]);
  assert.deepEqual(web.users?.users, ['prometheus']);
  assert.equal(await web.users?.verify(basic('prometheus', 'change-me')), true);
});

test('parseWebConfig takes a document already read', () => {
  assert.deepEqual(parseWebConfig('x.yml', null).headers, []);
  assert.throws(() => parseWebConfig('x.yml', 'text'), /web config file x\.yml: expected a mapping/);
});
