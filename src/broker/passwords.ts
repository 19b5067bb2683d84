import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, TkmpromError } from '../errors.js';

/**
 * Password file: one `username:scrypt$N$r$p$saltBase64$hashBase64` line per user. Blank lines and
 * lines starting with `#` are ignored. Only hashes are ever accepted, so a leaked file does not
 * leak the passwords themselves.
 */

// 2^14 with r=8 costs ~16 MiB and ~50 ms per check: slow enough to blunt offline guessing, fast
// enough that a fleet reconnecting after a broker restart is not held up for long.
const DEFAULT_N = 16384;
const DEFAULT_R = 8;
const DEFAULT_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

// Bounds for hashes read from disk, so a hand-edited line cannot make every login allocate
// gigabytes or spin for minutes.
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const USERNAME = /^[^\s:#][^\s:]*$/;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function scryptAsync(password: Buffer, salt: Buffer, keylen: number, N: number, r: number, p: number) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, keylen, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function toBuffer(password: string | Buffer): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

/** Parses an encoded hash; undefined when it is not one this module wrote or could have written. */
function parseHash(encoded: string): ScryptParams | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, nText, rText, pText, saltText, hashText] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^\d+$/.test(nText) || !/^\d+$/.test(rText) || !/^\d+$/.test(pText)) return undefined;
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return undefined;
  if (r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) return undefined;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) return undefined;
  return { N, r, p, salt, hash };
}

export function isPasswordHash(encoded: string): boolean {
  return parseHash(encoded) !== undefined;
}

export async function hashPassword(password: string | Buffer): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(toBuffer(password), salt, KEY_BYTES, DEFAULT_N, DEFAULT_R, DEFAULT_P);
  return `scrypt$${DEFAULT_N}$${DEFAULT_R}$${DEFAULT_P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** False for a wrong password and for a malformed hash alike. */
export async function verifyPassword(password: string | Buffer, encoded: string): Promise<boolean> {
  const params = parseHash(encoded);
  if (!params) return false;
  const actual = await scryptAsync(
    toBuffer(password),
    params.salt,
    params.hash.length,
    params.N,
    params.r,
    params.p,
  );
  return timingSafeEqual(actual, params.hash);
}

export function isValidUsername(username: string): boolean {
  return USERNAME.test(username);
}

interface ParsedLine {
  /** Set for user lines; comments and blank lines keep only their text. */
  username?: string;
  text: string;
}

function parsePasswordText(text: string, file: string): ParsedLine[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const seen = new Set<string>();
  return lines.map((line, index) => {
    const lineNo = index + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return { text: line };
    const colon = trimmed.indexOf(':');
    if (colon <= 0) {
      throw new TkmpromError(
        ErrorCodes.PASSWORD_FILE_INVALID,
        `password file ${file}, line ${lineNo}: expected "username:scrypt$..."`,
      );
    }
    const username = trimmed.slice(0, colon);
    const encoded = trimmed.slice(colon + 1);
    if (!isValidUsername(username)) {
      throw new TkmpromError(
        ErrorCodes.PASSWORD_FILE_INVALID,
        `password file ${file}, line ${lineNo}: invalid username (no spaces or ":" allowed)`,
      );
    }
    // The offending text is deliberately not echoed: it may be a plain-text password.
    if (!isPasswordHash(encoded)) {
      throw new TkmpromError(
        ErrorCodes.PASSWORD_FILE_INVALID,
        `password file ${file}, line ${lineNo}: the password of user "${username}" is not a scrypt hash; ` +
          'plain-text passwords are refused, set it with "tkmprom broker add-user"',
      );
    }
    if (seen.has(username)) {
      throw new TkmpromError(
        ErrorCodes.PASSWORD_FILE_INVALID,
        `password file ${file}, line ${lineNo}: user "${username}" is listed twice`,
      );
    }
    seen.add(username);
    return { username, text: `${username}:${encoded}` };
  });
}

/** Returns username → encoded hash. */
export async function readPasswordFile(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.PASSWORD_FILE_INVALID,
      `cannot read password file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const users = new Map<string, string>();
  for (const line of parsePasswordText(text, file)) {
    if (line.username !== undefined) users.set(line.username, line.text.slice(line.username.length + 1));
  }
  return users;
}

/** Creates or replaces the user's line; the file is rewritten atomically with mode 0600. */
export async function addUser(file: string, username: string, password: string | Buffer): Promise<void> {
  if (!isValidUsername(username)) {
    throw new TkmpromError(
      ErrorCodes.CLI_USAGE,
      `invalid username "${username}": it must be non-empty and contain no spaces or ":"`,
    );
  }
  if (toBuffer(password).length === 0) {
    throw new TkmpromError(ErrorCodes.CLI_USAGE, 'the password must not be empty');
  }
  let existing = '';
  try {
    existing = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TkmpromError(
        ErrorCodes.PASSWORD_FILE_INVALID,
        `cannot read password file ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const lines = parsePasswordText(existing, file);
  const encoded = await hashPassword(password);
  const newLine = `${username}:${encoded}`;
  const index = lines.findIndex((l) => l.username === username);
  if (index >= 0) lines[index] = { username, text: newLine };
  else lines.push({ username, text: newLine });
  const content = `${lines.map((l) => l.text).join('\n')}\n`;

  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    // Created 0600 from the start so the hashes are never readable by others, not even briefly.
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw new TkmpromError(
      ErrorCodes.PASSWORD_FILE_INVALID,
      `cannot write password file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
