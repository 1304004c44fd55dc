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
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
const tick = () => {
  const started = performance.now();
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    if (result.log > 0) parentPort.postMessage({ pages: result.checkpointed, seconds: (performance.now() - started) / 1000 });
    else parentPort.postMessage({ pages: 0, seconds: 0 });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Copies the write-ahead log into the database file on a thread of its own. Left to SQLite, the connection that
 * commits does it (every 1000 log pages): copying a few MB and two fsyncs inside a COMMIT, which held the event loop
 * for 5–40 ms about once a second at full intake and made most of intake's p99. Here the event loop never waits for
 * a checkpoint. A passive checkpoint never blocks the writer; the writer reuses the log from its start once a
 * checkpoint has copied all of it. The connection keeps a far-off automatic checkpoint (see openSqlite) as the
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
