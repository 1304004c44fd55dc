import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { lockDatabaseFile } from './database-lock';

/** A backup or restore that cannot go ahead; the message says why and what to do. */
export class BackupError extends Error {
  override name = 'BackupError';
}

export interface BackupReport {
  deliveries: number;
  bytes: number;
  ms: number;
  /** When the copied snapshot was taken (the backup's single read began). */
  snapshotAt: Date;
}

/** Pages per backup step: everything in one, so the copy is one snapshot however busy the service is. */
const ALL_PAGES = 0x7fffffff;

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A consistent copy of a live SQLite database with SQLite's online backup API, from another process while the
 * service writes (WAL: the backup is a reader; the service's lock file does not stop it). All pages are copied in
 * one step: a step-by-step copy would start over after each of the service's commits and never finish under load.
 * The copy is then made self-contained (no WAL), compacted, switched to incremental vacuum, checked, and renamed
 * into place: `dest` is either absent or a complete, verified backup.
 */
export async function backupSqlite(source: string, dest: string): Promise<BackupReport> {
  if (!existsSync(source)) throw new BackupError(`no database file at ${source} (set DATABASE_URL or --database)`);
  if (existsSync(dest)) throw new BackupError(`${dest} exists already: choose another name, or delete it first`);
  if (!existsSync(dirname(dest))) throw new BackupError(`the folder ${dirname(dest)} does not exist`);
  const partial = `${dest}.partial`;
  rmSync(partial, { force: true });
  const started = Date.now();
  const db = new SqliteDatabase(source, { readonly: true, fileMustExist: true, timeout: 5000 });
  let snapshotAt = new Date();
  try {
    await db.backup(partial, {
      progress: () => {
        snapshotAt = new Date();
        return ALL_PAGES;
      },
    });
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
  const copy = new SqliteDatabase(partial);
  let deliveries: number;
  try {
    copy.pragma('journal_mode = DELETE');
    copy.pragma('auto_vacuum = INCREMENTAL');
    copy.exec('VACUUM');
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copy failed its integrity check (${String(check)}); the source is unchanged`);
    deliveries = (copy.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n;
  } catch (error) {
    copy.close();
    rmSync(partial, { force: true });
    throw error;
  }
  copy.close();
  fsyncPath(partial);
  renameSync(partial, dest);
  fsyncPath(dirname(dest));
  return { deliveries, bytes: statSync(dest).size, ms: Date.now() - started, snapshotAt };
}

export interface RestoreReport {
  deliveries: number;
  /** Where the database that was there before went (undefined: there was none). */
  previous?: string;
}

/**
 * Puts a backup in place of the service's database file. Refuses while a service holds the file (its lock), and
 * refuses a file that is not a sound backup of this service. The database that was there is moved aside with its
 * WAL (never deleted), so a restore can be undone.
 */
export async function restoreSqlite(backup: string, target: string): Promise<RestoreReport> {
  if (!existsSync(backup)) throw new BackupError(`no backup file at ${backup}`);
  let deliveries: number;
  try {
    const check = new SqliteDatabase(backup, { readonly: true, fileMustExist: true });
    try {
      const verdict = check.pragma('integrity_check', { simple: true });
      if (verdict !== 'ok') throw new BackupError(`${backup} failed its integrity check (${String(verdict)}): not restored`);
      deliveries = (check.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n;
    } finally {
      check.close();
    }
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${backup} is not a backup of this service (${error instanceof Error ? error.message : String(error)}): not restored`);
  }
  // A running service holds this lock: restoring under it would pull the file from under its feet.
  mkdirSync(dirname(target), { recursive: true });
  const lock = lockDatabaseFile(target);
  try {
    const incoming = `${target}.restoring`;
    await copyFile(backup, incoming);
    fsyncPath(incoming);
    let previous: string | undefined;
    if (existsSync(target)) {
      previous = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(target, previous);
      if (existsSync(`${target}-wal`)) renameSync(`${target}-wal`, `${previous}-wal`);
    }
    rmSync(`${target}-shm`, { force: true });
    renameSync(incoming, target);
    fsyncPath(dirname(target));
    return { deliveries, previous };
  } finally {
    lock.release();
  }
}
