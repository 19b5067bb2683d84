import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, isTkmpromError, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { readSnapshot, type SnapshotRecord, setAside, writeSnapshot } from './snapshot-file.js';

export const SNAPSHOT_FILE = 'state.jsonl';

export interface StateKeeperOptions {
  dir: string;
  /** The format version this build writes and reads. */
  version: number;
  /** The settings that give the records their meaning, as one string. */
  fingerprint: string;
  /** Draws the state to save, lazily: called at the start of every snapshot. */
  records: () => Iterable<SnapshotRecord>;
  intervalMs: number;
  logger: Logger;
  /**
   * Called as a snapshot begins and once it is written (true) or failed (false): a source that
   * replays exactly holds its messages in between, so the snapshot is the state after one point
   * of the stream, and acknowledges that point once it is on disk.
   */
  beforeSnapshot?: () => void;
  afterSnapshot?: (written: boolean) => void;
  wallClock?: () => number;
}

export interface SnapshotFigures {
  snapshots: number;
  failures: number;
  lastBytes: number;
  lastRecords: number;
  lastDurationMs: number;
  /** Wall-clock ms of the last snapshot written, 0 before the first. */
  lastWrittenAtMs: number;
}

/**
 * Keeps the exporter's state on disk: restores it once at start, then writes a snapshot every
 * interval and a last one at stop. A snapshot that cannot be used is set aside and reported, and
 * the exporter starts empty: a bad file never stops the exporter from running.
 */
export class StateKeeper {
  readonly file: string;
  readonly figures: SnapshotFigures = {
    snapshots: 0,
    failures: 0,
    lastBytes: 0,
    lastRecords: 0,
    lastDurationMs: 0,
    lastWrittenAtMs: 0,
  };
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private readonly wallClock: () => number;

  constructor(private readonly opts: StateKeeperOptions) {
    this.wallClock = opts.wallClock ?? Date.now;
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new TkmpromError(
        ErrorCodes.STATE_DIR_UNUSABLE,
        `state.dir: cannot create ${opts.dir}: ${(err as Error).message}; give the exporter's user a writable directory`,
        { cause: err },
      );
    }
    this.file = join(opts.dir, SNAPSHOT_FILE);
  }

  /**
   * Reads the snapshot and hands its records to `apply`, in the order they were written. Returns
   * the snapshot's wall-clock time, or undefined when nothing was restored.
   */
  restore(apply: (record: SnapshotRecord) => void): number | undefined {
    const { logger } = this.opts;
    let snapshot: ReturnType<typeof readSnapshot>;
    try {
      snapshot = readSnapshot(this.file, { version: this.opts.version, fingerprint: this.opts.fingerprint });
    } catch (err) {
      this.setAsideAfter(err);
      return undefined;
    }
    if (snapshot === undefined) {
      logger.info({ file: this.file }, 'no state snapshot yet: starting empty');
      return undefined;
    }
    try {
      for (const record of snapshot.records) apply(record);
    } catch (err) {
      this.setAsideAfter(
        new TkmpromError(
          ErrorCodes.STATE_UNREADABLE,
          `state snapshot ${this.file} holds a record this build cannot restore: ${(err as Error).message}`,
        ),
      );
      throw new StateRestoreAborted();
    }
    logger.info(
      {
        file: this.file,
        records: snapshot.records.length,
        ageSeconds: (this.wallClock() - snapshot.header.takenAtMs) / 1000,
      },
      'state restored',
    );
    return snapshot.header.takenAtMs;
  }

  private setAsideAfter(err: unknown): void {
    const code = isTkmpromError(err) ? err.code : ErrorCodes.STATE_UNREADABLE;
    let keptAs: string | undefined;
    try {
      keptAs = setAside(this.file, this.wallClock());
    } catch {
      keptAs = undefined;
    }
    this.opts.logger.error(
      { code, file: this.file, keptAs },
      `${(err as Error).message}; it was set aside and the exporter starts empty [${code}]`,
    );
  }

  start(): void {
    if (this.timer !== undefined || this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.snapshot(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Writes one snapshot now; a snapshot still being written is awaited instead of doubled. */
  snapshot(): Promise<void> {
    if (this.writing !== undefined) return this.writing;
    const started = performance.now();
    const takenAtMs = this.wallClock();
    this.opts.beforeSnapshot?.();
    this.writing = writeSnapshot(
      this.file,
      { format: 'tkmprom-state', version: this.opts.version, fingerprint: this.opts.fingerprint, takenAtMs },
      this.opts.records(),
    )
      .then((r) => {
        const f = this.figures;
        f.snapshots++;
        f.lastBytes = r.bytes;
        f.lastRecords = r.records;
        f.lastDurationMs = performance.now() - started;
        f.lastWrittenAtMs = takenAtMs;
        this.opts.afterSnapshot?.(true);
      })
      .catch((err: unknown) => {
        this.opts.afterSnapshot?.(false);
        this.figures.failures++;
        this.opts.logger.error(
          { code: ErrorCodes.STATE_DIR_UNUSABLE, file: this.file, err: (err as Error).message },
          `cannot write the state snapshot: ${(err as Error).message} [${ErrorCodes.STATE_DIR_UNUSABLE}]`,
        );
      })
      .finally(() => {
        this.writing = undefined;
      });
    return this.writing;
  }

  /** Stops the timer and writes the last snapshot, after any still being written. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.writing !== undefined) await this.writing;
    await this.snapshot();
  }
}

/** Thrown by `restore` when a record failed midway: the caller must discard what was applied. */
export class StateRestoreAborted extends Error {
  constructor() {
    super('state restore aborted');
    this.name = 'StateRestoreAborted';
  }
}
