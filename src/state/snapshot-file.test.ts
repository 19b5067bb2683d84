import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ErrorCodes, type TkmpromError } from '../errors.js';
import {
  readSnapshot,
  SNAPSHOT_FORMAT,
  type SnapshotHeader,
  setAside,
  writeSnapshot,
} from './snapshot-file.js';

const HEADER: SnapshotHeader = {
  format: SNAPSHOT_FORMAT,
  version: 3,
  fingerprint: 'window=300000',
  takenAtMs: 1_700_000_000_000,
};
const EXPECTED = { version: 3, fingerprint: 'window=300000' };

describe('state snapshot files', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tkmprom-state-'));
    file = join(dir, 'state.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refusedWith = (code: string, pattern: RegExp) => (err: unknown) => {
    assert.equal((err as TkmpromError).code, code);
    assert.match((err as Error).message, pattern);
    return true;
  };

  test('a snapshot reads back as written: header, records in order, nothing left beside it', async () => {
    const records = [
      ['device', { id: '142B2FEB7A10', battery: 87 }],
      ['symbol', { name: 'TSLA', slots: [1, 2, 3] }],
      ['symbol', { name: 'ÄÖÜ/€', slots: [] }],
    ] as const;
    const result = await writeSnapshot(file, HEADER, records);
    assert.equal(result.records, 3);
    assert.equal(result.bytes, readFileSync(file).length);
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
    const back = readSnapshot(file, EXPECTED);
    assert.deepEqual(back, { header: HEADER, records: records.map((r) => [...r]) });
  });

  test('a new snapshot replaces the previous one whole', async () => {
    await writeSnapshot(file, HEADER, [['a', 1]]);
    await writeSnapshot(file, { ...HEADER, takenAtMs: 2 }, [
      ['b', 2],
      ['c', 3],
    ]);
    assert.deepEqual(readSnapshot(file, EXPECTED)?.records, [
      ['b', 2],
      ['c', 3],
    ]);
  });

  test('no file is no snapshot, not an error', () => {
    assert.equal(readSnapshot(file, EXPECTED), undefined);
  });

  test('a file cut short anywhere is refused as unreadable', async () => {
    await writeSnapshot(file, HEADER, [
      ['a', { x: 1 }],
      ['b', { y: 2 }],
      ['c', { z: 3 }],
    ]);
    const whole = readFileSync(file, 'utf8');
    // Every cut but the whole file and the whole file less its final newline.
    for (let cut = 0; cut < whole.length - 1; cut += 7) {
      writeFileSync(file, whole.slice(0, cut));
      assert.throws(
        () => readSnapshot(file, EXPECTED),
        (err) => (err as TkmpromError).code === ErrorCodes.STATE_UNREADABLE,
        `cut at ${cut}`,
      );
    }
  });

  test('a line that is not JSON is named', async () => {
    await writeSnapshot(file, HEADER, [
      ['a', 1],
      ['b', 2],
    ]);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = '["b", 2';
    writeFileSync(file, lines.join('\n'));
    assert.throws(
      () => readSnapshot(file, EXPECTED),
      refusedWith(ErrorCodes.STATE_UNREADABLE, /line 3 is not valid JSON/),
    );
  });

  test('a record that is not [section, value] is refused', async () => {
    await writeSnapshot(file, HEADER, [['a', 1]]);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = '{"a":1}';
    writeFileSync(file, lines.join('\n'));
    assert.throws(
      () => readSnapshot(file, EXPECTED),
      refusedWith(ErrorCodes.STATE_UNREADABLE, /line 2 is not a \[section, value\] record/),
    );
  });

  test('another format, another version, other settings: each refused with its own code', async () => {
    writeFileSync(file, '{"hello":"world"}\n');
    assert.throws(
      () => readSnapshot(file, EXPECTED),
      refusedWith(ErrorCodes.STATE_UNREADABLE, /is not a tkmprom-state file/),
    );
    await writeSnapshot(file, { ...HEADER, version: 4 }, []);
    assert.throws(
      () => readSnapshot(file, EXPECTED),
      refusedWith(ErrorCodes.STATE_VERSION_UNKNOWN, /format version 4, and this tkmprom reads version 3/),
    );
    await writeSnapshot(file, { ...HEADER, fingerprint: 'window=60000' }, []);
    assert.throws(
      () => readSnapshot(file, EXPECTED),
      refusedWith(
        ErrorCodes.STATE_CONFIG_CHANGED,
        /taken with other settings \(window=60000, now window=300000\)/,
      ),
    );
  });

  test('setting aside renames the file and keeps its bytes', async () => {
    await writeSnapshot(file, HEADER, [['a', 1]]);
    const bytes = readFileSync(file, 'utf8');
    const kept = setAside(file, Date.UTC(2026, 11, 3, 21, 30, 0, 5));
    assert.equal(kept, join(dir, 'state.jsonl.unusable-2026-12-03T21-30-00-005Z'));
    assert.equal(existsSync(file), false);
    assert.equal(readFileSync(kept, 'utf8'), bytes);
  });

  test('a large snapshot is written in pieces, giving the event loop turns while it is written', async () => {
    let turns = 0;
    let writing = true;
    const spin = (): void => {
      turns++;
      if (writing) setImmediate(spin);
    };
    setImmediate(spin);
    function* records() {
      for (let i = 0; i < 100_000; i++)
        yield ['device', { id: i.toString(16).padStart(12, '0'), battery: i % 100 }] as const;
    }
    const result = await writeSnapshot(file, HEADER, records());
    writing = false;
    assert.equal(result.records, 100_000);
    // About 5 MB in 256 KB chunks: one turn at least per chunk written.
    assert.ok(turns >= Math.floor(result.bytes / (256 * 1024)), `${turns} turns for ${result.bytes} bytes`);
    assert.equal(readSnapshot(file, EXPECTED)?.records.length, 100_000);
  });
});
