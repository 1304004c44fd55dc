import { Worker } from 'node:worker_threads';

/** Read by the metrics endpoint. */
export interface CheckpointStats {
  /** Checkpoints run by the background thread. */
  checkpoints: number;
  /** Log pages they copied into the database file. */
  pages: number;
  seconds: number;
  /** Checkpoints that failed (the connection's own checkpoints take over until one succeeds). */
  failures: number;
}

export interface WalCheckpointerOptions {
  /** How often the thread checkpoints what the log holds. */
  intervalMs: number;
  busyTimeoutMs: number;
  /** Told once when checkpoints start failing and once when they work again (never per tick). */
  onHealthChange?: (healthy: boolean, error?: string) => void;
}

/**
 * The thread's code. Its own connection to the file, default `synchronous` (FULL): a checkpoint syncs the log before
 * copying it and the database file after, so the log is never reused before what it held is on disk.
 */
const THREAD = `
const { closeSync, openSync, readSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
// SQLite reports the frames copied so far from the current log. The writer starts the log over once all are copied,
// with new salts in its header: that tells a new log from the same one.
const header = Buffer.alloc(8);
let walFd;
const salts = () => {
  try {
    walFd ??= openSync(workerData.file + '-wal', 'r');
    return readSync(walFd, header, 0, 8, 16) === 8 ? header.toString('hex') : undefined;
  } catch {
    return undefined;
  }
};
let last = { salts: undefined, checkpointed: 0 };
let failing = false;
const tick = () => {
  const started = performance.now();
  try {
    const current = salts();
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    const pages = result.checkpointed - (current !== undefined && current === last.salts ? last.checkpointed : 0);
    last = { salts: current, checkpointed: result.checkpointed };
    // Nothing new sends nothing: an idle database does not wake the main thread five times a second.
    if (pages > 0 || failing) parentPort.postMessage({ pages: Math.max(0, pages), seconds: (performance.now() - started) / 1000 });
    failing = false;
  } catch (error) {
    failing = true;
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  if (walFd !== undefined) closeSync(walFd);
  db.close();
  parentPort.close();
});
`;

/**
 * Copies the write-ahead log into the database file on a thread of its own. Left to SQLite, the connection that
 * commits does it (every 1000 log pages): copying a few MB and two fsyncs inside a COMMIT, which held the event loop
 * for 5–40 ms about once a second at full intake and made most of intake's p99. Here the event loop never waits for
 * a checkpoint. A passive checkpoint never blocks the writer; the writer reuses the log from its start once a
 * checkpoint has copied all of it. The connection keeps a far-off automatic checkpoint (see configureSqlite) as the
 * safety net should this thread fail or fall behind.
 */
export class WalCheckpointer {
  readonly stats: CheckpointStats = { checkpoints: 0, pages: 0, seconds: 0, failures: 0 };
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private healthy = true;
  private stopped?: Promise<void>;

  constructor(file: string, options: WalCheckpointerOptions) {
    this.worker = new Worker(THREAD, {
      eval: true,
      workerData: { file, driver: require.resolve('better-sqlite3'), intervalMs: options.intervalMs, busyTimeoutMs: options.busyTimeoutMs },
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // The thread alone must never keep the process alive.
    this.worker.unref();
    this.worker.on('message', (message: { pages?: number; seconds?: number; error?: string }) => {
      if (message.error !== undefined) {
        this.stats.failures++;
        if (this.healthy) options.onHealthChange?.(false, message.error);
        this.healthy = false;
        return;
      }
      if (!this.healthy) options.onHealthChange?.(true);
      this.healthy = true;
      if (!message.pages) return;
      this.stats.checkpoints++;
      this.stats.pages += message.pages;
      this.stats.seconds += message.seconds ?? 0;
    });
    this.worker.on('error', (error) => {
      this.stats.failures++;
      if (this.healthy) options.onHealthChange?.(false, error.message);
      this.healthy = false;
    });
  }

  /** Stops the thread and closes its connection (before the main connection closes: it checkpoints last). */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.worker.postMessage('stop');
      // A checkpoint in progress finishes first (bounded by the busy timeout); a thread stuck past that is ended.
      const timer = setTimeout(() => void this.worker.terminate(), 5000);
      await this.exited;
      clearTimeout(timer);
    })();
    return this.stopped;
  }
}
