export {
  SNAPSHOT_FILE,
  type SnapshotFigures,
  StateKeeper,
  type StateKeeperOptions,
  StateRestoreAborted,
} from './keeper.js';
export {
  type ExpectedSnapshot,
  type ReadSnapshot,
  readSnapshot,
  SNAPSHOT_FORMAT,
  type SnapshotHeader,
  type SnapshotRecord,
  setAside,
  writeSnapshot,
} from './snapshot-file.js';
