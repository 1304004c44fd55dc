import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { WalCheckpointer } from './wal-checkpointer';

const until = async (what: string, check: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('WalCheckpointer', () => {
  let dir: string;
  let file: string;
  let sqlite: SqliteDatabase.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mr-checkpoint-'));
    file = join(dir, 'test.db');
    sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    // This connection never checkpoints by itself: whatever gets copied, the thread copied.
    sqlite.pragma('wal_autocheckpoint = 0');
    sqlite.exec('create table items (id integer primary key, body text not null)');
  });

  afterEach(() => {
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (rows: number) => {
    const insert = sqlite.prepare('insert into items (body) values (?)');
    sqlite.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run('x'.repeat(2000));
    })();
  };

  it('copies the log into the database file off this thread, and the writer then reuses the log from its start', async () => {
    const checkpointer = new WalCheckpointer(file, { intervalMs: 20, busyTimeoutMs: 1000 });
    try {
      write(500);
      await until('a checkpoint', () => checkpointer.stats.pages > 0);
      // Everything the log held is in the file now: nothing is left for a checkpoint here to copy.
      await until('every page copied', () => {
        const [state] = sqlite.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
        return state.log === state.checkpointed;
      });
      const logBytes = statSync(`${file}-wal`).size;
      // Written again after a complete checkpoint, the log starts over instead of growing.
      for (let round = 0; round < 5; round++) {
        const copied = checkpointer.stats.pages;
        write(100);
        await until('the next checkpoint', () => checkpointer.stats.pages > copied);
      }
      expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(logBytes);
      // Idle, it copies and counts nothing more (pages copied earlier are not counted again).
      const counted = { ...checkpointer.stats };
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(checkpointer.stats).toEqual(counted);
      expect(checkpointer.stats).toMatchObject({ failures: 0, checkpoints: expect.any(Number) });
      expect(checkpointer.stats.checkpoints).toBeGreaterThanOrEqual(6);
    } finally {
      await checkpointer.stop();
    }
    // Its connection is closed: this one is the last, so closing it removes the log.
    sqlite.close();
    expect(() => statSync(`${file}-wal`)).toThrow(/ENOENT/);
    sqlite = new SqliteDatabase(file);
    expect(sqlite.prepare('select count(*) as n from items').get()).toEqual({ n: 1000 });
  });

  it('says once that checkpoints fail, counts every failure, and still stops', async () => {
    const broken = join(dir, 'not-a-database.db');
    writeFileSync(broken, 'this is not an SQLite file, not even close to one'.repeat(200));
    const changes: boolean[] = [];
    const checkpointer = new WalCheckpointer(broken, { intervalMs: 10, busyTimeoutMs: 100, onHealthChange: (healthy) => changes.push(healthy) });
    await until('failures', () => checkpointer.stats.failures >= 3);
    await checkpointer.stop();
    expect(changes).toEqual([false]);
    expect(checkpointer.stats.checkpoints).toBe(0);
  });
});
