import SqliteDatabase from 'better-sqlite3';
import { WalCheckpointer, WalCheckpointerOptions } from './wal-checkpointer';

/** How often the checkpoint thread copies the log into the file: at full intake, a few MB each time. */
const CHECKPOINT_INTERVAL_MS = 200;

/**
 * Sets a just-opened connection up as the embedded profile runs it, before anything else runs on it: the settings
 * below, and the thread that copies the log into the file (returned, to stop before the connection closes). One place,
 * so that what the benchmarks' floors measure (bench/baseline-server.js opens its files with this too) is what the app
 * pays.
 */
export function configureSqlite(
  sqlite: SqliteDatabase.Database,
  file: string,
  checkpoints: Omit<WalCheckpointerOptions, 'intervalMs'>,
): WalCheckpointer {
  applySettings(sqlite);
  return new WalCheckpointer(file, { ...checkpoints, intervalMs: CHECKPOINT_INTERVAL_MS });
}

function applySettings(sqlite: SqliteDatabase.Database): void {
  // WAL lets readers run beside the single writer. FULL: every commit is on disk before anyone hears of it,
  // so a 2xx answered after the insert survives power loss as well as kill -9; the driver does that fsync
  // itself, off the event loop, once per group of commits. NORMAL survives process crashes only.
  // A new file gives the space retention frees back to the file system (incremental vacuum); this must be set
  // before the first table exists. An older file reuses freed pages but does not shrink (README: Data and retention).
  if (sqlite.pragma('page_count', { simple: true }) === 0) sqlite.pragma('auto_vacuum = INCREMENTAL');
  sqlite.pragma('journal_mode = WAL');
  // The WAL is reused from its start after each checkpoint; a long reader (a backup) can make it grow, and this
  // cuts it back to 64 MiB at the next checkpoint after that.
  sqlite.pragma('journal_size_limit = 67108864');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // The file is memory-mapped (256 MB), so the page cache mostly holds pages newer than the file: written since
  // the last checkpoint, read back from the log. 8 MB holds that hot set. Larger costs every COMMIT: SQLite walks
  // the whole cache's hash table at the end of each write transaction (pcache1TruncateUnsafe): with 64 MB, ~6 µs
  // per commit and ~3 % of the embedded pipeline's CPU.
  sqlite.pragma('cache_size = -8192');
  sqlite.pragma('mmap_size = 268435456');
  // Every statement runs inside a group's open transaction, so each one that may fail halfway (multi-row writes,
  // foreign keys) keeps a statement journal: the pages it changes, to undo just that statement. Past 64 KiB SQLite
  // moves that journal to a temporary file (sorts and temporary indexes too): at full intake almost as many writes
  // as the log gets, and a file created and unlinked every few commits, all on the event loop and through the file
  // system's journal. In memory they cost a copy. Nothing durable lives there.
  sqlite.pragma('temp_store = MEMORY');
  // The log is copied into the file by a thread of its own (WalCheckpointer), not inside a COMMIT on the event loop.
  // The connection's own checkpoint stays as the safety net, far off: once the log holds 64 MiB (16384 pages).
  sqlite.pragma('wal_autocheckpoint = 16384');
}
