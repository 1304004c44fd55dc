import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { StartupError } from '../common/errors';

/** The database file is held by another process: this one must not touch it. */
export class DatabaseLockedError extends StartupError {
  override name = 'DatabaseLockedError';

  constructor(
    /** The database file that is held, and the holder's pid when it left one. */
    readonly file: string,
    readonly holder?: number,
  ) {
    super(`the database file ${file} is in use by another process${DatabaseLockedError.by(holder)}: one process per SQLite file; stop it, or set DATABASE_URL to another file`);
  }

  /** ` (pid N)` when the holder is known. */
  static by(holder?: number): string {
    return holder ? ` (pid ${holder})` : '';
  }
}

export interface DatabaseLock {
  release(): void;
}

/**
 * One writer per SQLite database file, enforced by the operating system. The embedded queue *is* the database,
 * so a second process on the same file would take over the first one's running deliveries at boot and call
 * them back again. The lock is SQLite's own exclusive file lock (fcntl) held for the process's lifetime on a
 * companion file (`<db>.lock`), so readers of the database itself (an online backup, a test's read-only view)
 * are never blocked. The kernel drops it with its process, even after `kill -9`: no stale-lock timeout. The
 * holder's pid goes in `<db>.pid`, for the message a second process prints.
 */
export function lockDatabaseFile(file: string): DatabaseLock {
  const lockFile = `${file}.lock`;
  const pidFile = `${file}.pid`;
  const lock = new SqliteDatabase(lockFile, { timeout: 0 });
  try {
    lock.pragma('journal_mode = OFF');
    lock.pragma('locking_mode = EXCLUSIVE');
    // In exclusive locking mode the lock a transaction takes is kept after it ends.
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    const holder = readPid(pidFile);
    throw new DatabaseLockedError(file, holder);
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  return {
    release() {
      rmSync(pidFile, { force: true });
      lock.close();
    },
  };
}

function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
