import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { ErrorCodes } from '../errors.js';
import { SNAPSHOT_FILE, StateKeeper, StateRestoreAborted } from './keeper.js';
import type { SnapshotRecord } from './snapshot-file.js';

function capturedLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('StateKeeper', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tkmprom-keeper-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const keeper = (
    records: () => Iterable<SnapshotRecord>,
    logger = capturedLogger().logger,
    fingerprint = 'f1',
  ) =>
    new StateKeeper({
      dir: join(dir, 'state'),
      version: 1,
      fingerprint,
      records,
      intervalMs: 0,
      logger,
      wallClock: () => 1_000_000,
    });

  test('what one keeper saves at stop, the next one restores in the same order', async () => {
    const saved: SnapshotRecord[] = [
      ['fleet', { id: 'A' }],
      ['fleet', { id: 'B' }],
      ['symbol', { name: 'TSLA' }],
    ];
    const first = keeper(() => saved);
    await first.stop();
    assert.equal(first.figures.snapshots, 1);
    assert.equal(first.figures.lastRecords, 3);
    const got: SnapshotRecord[] = [];
    const takenAt = keeper(() => []).restore((r) => got.push(r));
    assert.equal(takenAt, 1_000_000);
    assert.deepEqual(got, saved);
  });

  test('a snapshot asked for while one is being written shares it', async () => {
    let drawn = 0;
    const k = keeper(() => {
      drawn++;
      return [['x', 1]];
    });
    await Promise.all([k.snapshot(), k.snapshot(), k.snapshot()]);
    assert.equal(drawn, 1);
    assert.equal(k.figures.snapshots, 1);
  });

  test('no snapshot yet: nothing restored, said at info level', () => {
    const { logger, lines } = capturedLogger();
    let applied = 0;
    assert.equal(
      keeper(() => [], logger).restore(() => applied++),
      undefined,
    );
    assert.equal(applied, 0);
    assert.equal(lines.at(-1)?.msg, 'no state snapshot yet: starting empty');
  });

  test('an unusable snapshot is set aside with a coded error, and nothing is restored', async () => {
    const { logger, lines } = capturedLogger();
    const k = keeper(() => [], logger);
    writeFileSync(
      join(dir, 'state', SNAPSHOT_FILE),
      '{"format":"tkmprom-state","version":1,"fingerprint":"f1","takenAtMs":5}\n["a",1]\n',
    );
    let applied = 0;
    assert.equal(
      k.restore(() => applied++),
      undefined,
    );
    assert.equal(applied, 0);
    const names = readdirSync(join(dir, 'state'));
    assert.equal(names.length, 1);
    assert.match(names[0]!, /^state\.jsonl\.unusable-/);
    const line = lines.at(-1)!;
    assert.equal(line.code, ErrorCodes.STATE_UNREADABLE);
    assert.equal(line.level, 50);
    assert.match(
      String(line.msg),
      /is cut short.*set aside and the exporter starts empty \[TKM_STATE_UNREADABLE\]$/,
    );
  });

  test('a snapshot of other settings is set aside with its own code', async () => {
    await keeper(() => [['a', 1]], undefined, 'window=5m').stop();
    const { logger, lines } = capturedLogger();
    assert.equal(
      keeper(() => [], logger, 'window=1m').restore(() => assert.fail('nothing may be applied')),
      undefined,
    );
    assert.equal(lines.at(-1)?.code, ErrorCodes.STATE_CONFIG_CHANGED);
    assert.equal(existsSync(join(dir, 'state', SNAPSHOT_FILE)), false);
  });

  test('a record the restorer rejects aborts the restore and sets the file aside', async () => {
    await keeper(() => [
      ['a', 1],
      ['b', 2],
    ]).stop();
    const { logger, lines } = capturedLogger();
    const seen: string[] = [];
    assert.throws(
      () =>
        keeper(() => [], logger).restore(([section]) => {
          seen.push(section);
          if (section === 'b') throw new Error('unknown section "b"');
        }),
      StateRestoreAborted,
    );
    assert.deepEqual(seen, ['a', 'b']);
    assert.match(String(lines.at(-1)?.msg), /holds a record this build cannot restore: unknown section "b"/);
    assert.equal(existsSync(join(dir, 'state', SNAPSHOT_FILE)), false);
  });

  test('a directory that cannot be made is a coded error naming the setting', () => {
    writeFileSync(join(dir, 'file'), '');
    assert.throws(
      () =>
        new StateKeeper({
          dir: join(dir, 'file', 'state'),
          version: 1,
          fingerprint: 'f',
          records: () => [],
          intervalMs: 0,
          logger: capturedLogger().logger,
        }),
      (err: unknown) =>
        (err as { code: string }).code === ErrorCodes.STATE_DIR_UNUSABLE &&
        /^state\.dir: cannot create/.test((err as Error).message),
    );
  });
});
