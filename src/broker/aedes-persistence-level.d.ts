declare module 'aedes-persistence-level' {
  import type { Readable } from 'node:stream';

  /** The subset of the persistence API this project calls directly; aedes uses the rest. */
  export interface LevelPersistence {
    setup(broker: unknown): Promise<void>;
    createRetainedStream(pattern: string): Readable;
    destroy(): Promise<void>;
  }

  export default function aedesPersistenceLevel(db: unknown): LevelPersistence;
}
