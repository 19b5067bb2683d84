import { mkdir } from 'node:fs/promises';
import aedesPersistenceLevel, { type LevelPersistence } from 'aedes-persistence-level';
import { Level } from 'level';
import { ErrorCodes, TkmpromError } from '../errors.js';

async function openDataDir(dataDir: string): Promise<Level<string, Buffer>> {
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.DATA_DIR_UNUSABLE,
      `cannot create data directory ${dataDir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const db = new Level<string, Buffer>(dataDir, { valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail =
      cause?.code === 'LEVEL_LOCKED'
        ? 'it is locked by another process (is another broker using it?)'
        : (cause?.message ?? (err as Error).message);
    throw new TkmpromError(ErrorCodes.DATA_DIR_UNUSABLE, `cannot open data directory ${dataDir}: ${detail}`, {
      cause: err,
    });
  }
  return db;
}

/**
 * Counts the persistence calls still running, by wrapping every method that returns a promise.
 * `settled` resolves once none has been running for a few turns of the event loop (aedes chains
 * calls through callbacks and setImmediate), or after `maxMs`.
 */
function trackPending(target: object): { settled(maxMs: number): Promise<void> } {
  let pending = 0;
  const done = () => {
    pending--;
  };
  const record = target as Record<string, unknown>;
  const proto = Object.getPrototypeOf(target) as object;
  // setup must stay a native async function (aedes checks), destroy runs after the wait anyway.
  const skip = new Set(['constructor', 'setup', 'destroy']);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = Object.getOwnPropertyDescriptor(proto, name)?.value;
    if (skip.has(name) || typeof fn !== 'function') continue;
    record[name] = function (this: unknown, ...args: unknown[]) {
      const result = fn.apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        pending++;
        // Both handlers, so this side chain never rejects; the caller still sees the original.
        (result as Promise<unknown>).then(done, done);
      }
      return result;
    };
  }
  return {
    async settled(maxMs) {
      const deadline = Date.now() + maxMs;
      let quiet = 0;
      while (quiet < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        quiet = pending === 0 ? quiet + 1 : 0;
      }
    },
  };
}

export interface DurableStore {
  readonly persistence: LevelPersistence;
  /** Topics holding a retained message in the store, read once at start. */
  retainedTopics(): AsyncIterable<string>;
  /** Waits for the store writes still running (up to `settleMs`), then closes LevelDB. */
  close(settleMs: number): Promise<void>;
}

/** aedes-persistence-level on a LevelDB in `dataDir`, created if missing; locked while open. */
export async function openStore(dataDir: string): Promise<DurableStore> {
  const persistence = aedesPersistenceLevel(await openDataDir(dataDir));
  const pendingWrites = trackPending(persistence);
  return {
    persistence,
    async *retainedTopics() {
      for await (const packet of persistence.createRetainedStream('#')) {
        yield (packet as { topic: string }).topic;
      }
    },
    async close(settleMs) {
      await pendingWrites.settled(settleMs);
      await persistence.destroy();
    },
  };
}
