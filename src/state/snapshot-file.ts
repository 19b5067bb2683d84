import { closeSync, fsyncSync, openSync, readFileSync, renameSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, TkmpromError } from '../errors.js';

/**
 * A state snapshot on disk: JSON lines. The first line is the header, then one `[section, value]`
 * record a line, then a trailer that counts them. Lines let a large state be written in pieces
 * between messages, and the trailer tells a whole file from one cut short by a crash or a full disk.
 */
export const SNAPSHOT_FORMAT = 'tkmprom-state';

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  /** What the records mean depends on these settings; a snapshot taken under others is set aside. */
  fingerprint: string;
  /** Wall-clock milliseconds when the snapshot began. */
  takenAtMs: number;
}

export type SnapshotRecord = readonly [section: string, value: unknown];

export interface WriteResult {
  bytes: number;
  records: number;
}

/** How many bytes of lines are gathered before one write: each write gives the event loop a turn. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Writes a snapshot atomically: into `FILE.tmp`, flushed to disk, then renamed over FILE, so that
 * FILE is always either the previous snapshot or the new one, whole. The records are drawn lazily
 * and written in chunks, awaiting each write, so that ingest goes on while a large state is saved.
 */
export async function writeSnapshot(
  file: string,
  header: SnapshotHeader,
  records: Iterable<SnapshotRecord>,
): Promise<WriteResult> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  let bytes = 0;
  let count = 0;
  try {
    let chunk = `${JSON.stringify(header)}\n`;
    for (const record of records) {
      chunk += `${JSON.stringify(record)}\n`;
      count++;
      if (chunk.length >= CHUNK_BYTES) {
        bytes += (await handle.write(chunk)).bytesWritten;
        chunk = '';
      }
    }
    chunk += `${JSON.stringify({ end: true, records: count })}\n`;
    bytes += (await handle.write(chunk)).bytesWritten;
    await handle.sync();
  } finally {
    await handle.close();
  }
  renameSync(tmp, file);
  syncDirectory(dirname(file));
  return { bytes, records: count };
}

/** A rename is durable only once the directory that holds the name is flushed too. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself has still happened.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface ExpectedSnapshot {
  version: number;
  fingerprint: string;
}

export interface ReadSnapshot {
  header: SnapshotHeader;
  records: SnapshotRecord[];
}

/**
 * Reads a whole snapshot and checks it before anything is restored from it: a file that is
 * truncated, unreadable, of another format or version, or taken under settings that change what
 * it means, is refused with a coded error and restores nothing. Returns undefined when there is
 * no snapshot at all.
 */
export function readSnapshot(file: string, expected: ExpectedSnapshot): ReadSnapshot | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(file, `cannot be read: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const header = parseLine(file, lines, 0) as Partial<SnapshotHeader> | null;
  if (header === null || typeof header !== 'object' || header.format !== SNAPSHOT_FORMAT) {
    throw unreadable(file, `is not a ${SNAPSHOT_FORMAT} file (its first line is no snapshot header)`);
  }
  if (header.version !== expected.version) {
    throw new TkmpromError(
      ErrorCodes.STATE_VERSION_UNKNOWN,
      `state snapshot ${file} has format version ${String(header.version)}, and this tkmprom reads version ${expected.version}`,
    );
  }
  if (header.fingerprint !== expected.fingerprint) {
    throw new TkmpromError(
      ErrorCodes.STATE_CONFIG_CHANGED,
      `state snapshot ${file} was taken with other settings (${String(header.fingerprint)}, now ${expected.fingerprint}); its windows would mean something else`,
    );
  }
  const trailer =
    lines.length > 1
      ? (parseLine(file, lines, lines.length - 1) as { end?: unknown; records?: unknown })
      : null;
  const recordLines = lines.length - 2;
  if (
    trailer === null ||
    typeof trailer !== 'object' ||
    trailer.end !== true ||
    trailer.records !== recordLines
  ) {
    throw unreadable(
      file,
      `is cut short: its trailer is missing or counts other than ${recordLines} records`,
    );
  }
  const records: SnapshotRecord[] = new Array(recordLines);
  for (let i = 0; i < recordLines; i++) {
    const record = parseLine(file, lines, i + 1);
    if (!Array.isArray(record) || record.length !== 2 || typeof record[0] !== 'string') {
      throw unreadable(file, `line ${i + 2} is not a [section, value] record`);
    }
    records[i] = record as unknown as SnapshotRecord;
  }
  return { header: header as SnapshotHeader, records };
}

function parseLine(file: string, lines: readonly string[], index: number): unknown {
  try {
    return JSON.parse(lines[index]!);
  } catch {
    throw unreadable(file, `line ${index + 1} is not valid JSON`);
  }
}

function unreadable(file: string, why: string): TkmpromError {
  return new TkmpromError(ErrorCodes.STATE_UNREADABLE, `state snapshot ${file} ${why}`);
}

/**
 * Moves a snapshot that cannot be used out of the way, keeping it for whoever wants to look at it,
 * so that the next snapshot does not overwrite the evidence. Returns the new name.
 */
export function setAside(file: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  const target = join(dirname(file), `${basename(file)}.unusable-${stamp}`);
  renameSync(file, target);
  return target;
}
