import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { addUser, hashPassword, isPasswordHash, readPasswordFile, verifyPassword } from './passwords.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempFile(name = 'passwd'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tkmprom-passwd-test-'));
  dirs.push(dir);
  return join(dir, name);
}

function rejectsWith(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TkmpromError);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

test('hashPassword produces a salted scrypt hash that verifyPassword accepts', async () => {
  const a = await hashPassword('s3cret');
  const b = await hashPassword('s3cret');
  assert.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('s3cret', a), true);
  assert.equal(await verifyPassword(Buffer.from('s3cret'), b), true);
  assert.equal(await verifyPassword('s3cret ', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('s3cret', 's3cret'), false);
  assert.equal(isPasswordHash(a), true);
  assert.equal(isPasswordHash('scrypt$3$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA=='), false);
});

test('addUser creates the file 0600, replaces a user, keeps others and comments', async () => {
  const file = await tempFile();
  await addUser(file, 'alice', 'one');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  await addUser(file, 'bob', 'two');
  const text = await readFile(file, 'utf8');
  await writeFile(file, `# fleet logins\n${text}`, { mode: 0o644 });
  await addUser(file, 'alice', 'three');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const lines = (await readFile(file, 'utf8')).split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[0], '# fleet logins');
  assert.match(lines[1]!, /^alice:scrypt\$/);
  assert.match(lines[2]!, /^bob:scrypt\$/);
  assert.equal(lines[3], '');
  const users = await readPasswordFile(file);
  assert.deepEqual([...users.keys()], ['alice', 'bob']);
  assert.equal(await verifyPassword('three', users.get('alice')!), true);
  assert.equal(await verifyPassword('one', users.get('alice')!), false);
  assert.equal(await verifyPassword('two', users.get('bob')!), true);
});

test('plain-text lines are refused with their line number and without echoing the password', async () => {
  const file = await tempFile();
  await addUser(file, 'alice', 'one');
  const good = await readFile(file, 'utf8');
  await writeFile(file, `${good}\n# comment\nbob:hunter2\n`);
  await assert.rejects(
    readPasswordFile(file),
    (err: unknown) =>
      rejectsWith(
        ErrorCodes.PASSWORD_FILE_INVALID,
        /line 4: the password of user "bob" is not a scrypt hash/,
      )(err) && !(err as Error).message.includes('hunter2'),
  );
  // addUser refuses to rewrite a file it cannot fully understand.
  await assert.rejects(addUser(file, 'carol', 'x'), rejectsWith(ErrorCodes.PASSWORD_FILE_INVALID, /line 4/));
});

test('malformed lines, duplicates, bad usernames and missing files', async () => {
  const file = await tempFile();
  await writeFile(file, 'no-colon-here\n');
  await assert.rejects(
    readPasswordFile(file),
    rejectsWith(ErrorCodes.PASSWORD_FILE_INVALID, /line 1: expected/),
  );
  const hash = await hashPassword('x');
  await writeFile(file, `a:${hash}\na:${hash}\n`);
  await assert.rejects(
    readPasswordFile(file),
    rejectsWith(ErrorCodes.PASSWORD_FILE_INVALID, /line 2: .*twice/),
  );
  await assert.rejects(
    readPasswordFile(`${file}.missing`),
    rejectsWith(ErrorCodes.PASSWORD_FILE_INVALID, /cannot read/),
  );
  await assert.rejects(addUser(file, 'bad:name', 'x'), rejectsWith(ErrorCodes.CLI_USAGE, /invalid username/));
  await assert.rejects(addUser(file, 'ok', ''), rejectsWith(ErrorCodes.CLI_USAGE, /must not be empty/));
});
