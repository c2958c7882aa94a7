import { Mutex } from 'async-mutex';

/**
 * One async-mutex per key, created on demand and dropped when nobody holds or waits for it.
 * Reference counting (not isLocked()) keeps the map from leaking entries.
 */
export class KeyedMutex {
  private readonly locks = new Map<string, { mutex: Mutex; refs: number }>();

  async runExclusive<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    let entry = this.locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), refs: 0 };
      this.locks.set(key, entry);
    }
    entry.refs++;
    try {
      return await entry.mutex.runExclusive(fn);
    } finally {
      if (--entry.refs === 0) this.locks.delete(key);
    }
  }

  get size(): number {
    return this.locks.size;
  }
}

/** The process-wide per-path lock every node writer shares. */
export const pathLocks = new KeyedMutex();
