import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { GroupCommitSqliteDialect, GroupCommitSqliteDriver } from './group-commit-sqlite.driver';

interface Schema {
  items: { id: number; name: string };
  parents: { id: number };
  children: { id: number; parent_id: number };
}

describe('GroupCommitSqliteDriver', () => {
  let dir: string;
  let file: string;
  let driver: GroupCommitSqliteDriver;
  let db: Kysely<Schema>;
  /** A second connection, as another process would see the file: only committed data. */
  let observer: SqliteDatabase.Database;
  const committedNames = () => (observer.prepare('select name from items order by id').all() as { name: string }[]).map((row) => row.name);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-group-commit-'));
    file = join(dir, 'test.db');
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    driver = new GroupCommitSqliteDriver(sqlite);
    db = new Kysely<Schema>({ dialect: new GroupCommitSqliteDialect(driver) });
    await sql`create table items (id integer primary key, name text not null unique)`.execute(db);
    await sql`create table parents (id integer primary key)`.execute(db);
    await sql`create table children (id integer primary key, parent_id integer not null references parents (id) deferrable initially deferred)`.execute(db);
    observer = new SqliteDatabase(file, { readonly: true });
  });

  afterEach(async () => {
    observer.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Reopens the file in durable mode, with each WAL fsync held until the test calls `held.finish()`. */
  async function reopenDurableWithHeldFsync() {
    await db.destroy();
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    driver = new GroupCommitSqliteDriver(sqlite, { durableFile: file });
    db = new Kysely<Schema>({ dialect: new GroupCommitSqliteDialect(driver) });
    // The module object itself: the driver calls through it.
    const fs = jest.requireActual<typeof import('node:fs')>('node:fs');
    const realFsync = fs.fsync;
    const held: { finish?: () => void } = {};
    const spy = jest.spyOn(fs, 'fsync').mockImplementation(((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      held.finish = () => realFsync(fd, callback);
    }));
    const started = async () => {
      while (!held.finish) await new Promise((resolve) => setImmediate(resolve));
    };
    return { held, started, restore: () => spy.mockRestore() };
  }

  it('commits the writes of one event-loop turn together, and answers each writer only after that commit', async () => {
    const before = { ...driver.stats };
    const seen: string[][] = [];
    const writes = Array.from({ length: 20 }, (_, i) =>
      db
        .insertInto('items')
        .values({ id: i + 1, name: `item-${i}` })
        .execute()
        .then(() => seen.push(committedNames())),
    );
    expect(committedNames()).toEqual([]); // statements ran, nothing is durable yet
    await Promise.all(writes);
    expect(driver.stats.commits - before.commits).toBe(1);
    expect(driver.stats.statements - before.statements).toBe(20);
    // Every writer, when answered, could already see all 20 rows from another connection.
    expect(seen.every((names) => names.length === 20)).toBe(true);
  });

  it('a failing statement rejects alone; the rest of its group commits', async () => {
    const results = await Promise.allSettled([
      db.insertInto('items').values({ id: 1, name: 'a' }).execute(),
      db.insertInto('items').values({ id: 2, name: 'a' }).execute(), // unique name violated
      db.insertInto('items').values({ id: 3, name: 'c' }).execute(),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(committedNames()).toEqual(['a', 'c']);
  });

  it('a failing COMMIT rejects every caller of the group and keeps none of its writes', async () => {
    const results = await Promise.allSettled([
      db.insertInto('items').values({ id: 1, name: 'kept?' }).execute(),
      db.insertInto('children').values({ id: 1, parent_id: 42 }).execute(), // deferred FK: fails at COMMIT
      db.selectFrom('items').selectAll().execute(), // a read that saw the uncommitted row
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(committedNames()).toEqual([]);
    // The connection is usable afterwards.
    await db.insertInto('items').values({ id: 1, name: 'after' }).execute();
    expect(committedNames()).toEqual(['after']);
  });

  it('a read with no write pending answers at once, without a commit', async () => {
    await db.insertInto('items').values({ id: 1, name: 'x' }).execute();
    const commits = driver.stats.commits;
    expect(await db.selectFrom('items').select('name').execute()).toEqual([{ name: 'x' }]);
    expect(driver.stats.commits).toBe(commits);
  });

  it('an explicit transaction commits the open group first, then has the connection to itself', async () => {
    const order: string[] = [];
    const grouped = db.insertInto('items').values({ id: 1, name: 'grouped' }).execute().then(() => order.push('grouped'));
    let outside: Promise<unknown> | undefined;
    await db.transaction().execute(async (trx) => {
      order.push('transaction started');
      await trx.insertInto('items').values({ id: 2, name: 'in transaction' }).execute();
      // Another caller's write waits until the transaction ends instead of joining it.
      outside = db.insertInto('items').values({ id: 3, name: 'outside' }).execute().then(() => order.push('outside'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(committedNames()).toEqual(['grouped']);
      order.push('transaction ending');
    });
    await Promise.all([grouped, outside]);
    // 'grouped' was committed before the transaction began (checked inside it); the outside write waited.
    expect(order.filter((step) => step !== 'grouped')).toEqual(['transaction started', 'transaction ending', 'outside']);
    expect(committedNames()).toEqual(['grouped', 'in transaction', 'outside']);
  });

  it('durable mode answers a writer only after the WAL fsync, and a read that may have seen it waits too', async () => {
    const { held, started, restore } = await reopenDurableWithHeldFsync();
    try {
      const answered: string[] = [];
      const write = db.insertInto('items').values({ id: 1, name: 'durable' }).execute().then(() => answered.push('write'));
      await started();
      expect(committedNames()).toEqual(['durable']); // committed, not yet known to be on disk
      const read = db.selectFrom('items').selectAll().execute().then(() => answered.push('read'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answered).toEqual([]);
      held.finish!();
      await Promise.all([write, read]);
      expect(answered.sort()).toEqual(['read', 'write']);
      expect(driver.stats).toMatchObject({ commits: 1, syncs: 1 });
    } finally {
      restore();
    }
  });

  it('durable mode: a group that changed no row adds no fsync, but waits for the one already running', async () => {
    const { held, started, restore } = await reopenDurableWithHeldFsync();
    try {
      const answered: string[] = [];
      const write = db.insertInto('items').values({ id: 1, name: 'durable' }).execute().then(() => answered.push('write'));
      await started();
      // Matches nothing (a claim that finds no work): committed in its own group while the fsync runs.
      const noop = db.updateTable('items').set({ name: 'renamed' }).where('id', '=', 99).execute().then(() => answered.push('noop'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answered).toEqual([]); // it may have read what the running fsync is about to make durable
      held.finish!();
      await Promise.all([write, noop]);
      expect(driver.stats).toMatchObject({ commits: 2, syncs: 1 });
      await db.updateTable('items').set({ name: 'renamed' }).where('id', '=', 99).execute(); // nothing running: at once
      expect(driver.stats).toMatchObject({ commits: 3, syncs: 1 });
    } finally {
      restore();
    }
  });

  describe('background view', () => {
    const viewOf = (core: GroupCommitSqliteDriver) => new Kysely<Schema>({ dialect: new GroupCommitSqliteDialect(core, core.background) });
    const settled = (promise: Promise<unknown>) =>
      promise.then(
        () => 'synced',
        // Compared by message: see the explicit-transaction test below for why not toThrow.
        (error: { message?: string }) => error.message,
      );

    it('answers as soon as a statement ran; synced() answers once it is committed', async () => {
      const background = viewOf(driver);
      const mark = driver.mark();
      await background.insertInto('items').values({ id: 1, name: 'background' }).execute();
      expect(committedNames()).toEqual([]); // answered inside the open group
      expect(await background.selectFrom('items').select('name').execute()).toEqual([{ name: 'background' }]);
      await driver.synced(mark);
      expect(committedNames()).toEqual(['background']);
    });

    it('synced() rejects when a group commit failed after the mark, and later work is not blamed', async () => {
      const background = viewOf(driver);
      const mark = driver.mark();
      await background.insertInto('items').values({ id: 1, name: 'lost' }).execute();
      await background.insertInto('children').values({ id: 1, parent_id: 42 }).execute(); // deferred FK: the group's COMMIT fails
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(committedNames()).toEqual([]);
      expect(await settled(driver.synced(mark))).toMatch(/commit failed after this work began/);

      const later = driver.mark();
      await background.insertInto('items').values({ id: 2, name: 'kept' }).execute();
      expect(await settled(driver.synced(later))).toBe('synced');
      expect(committedNames()).toEqual(['kept']);
    });

    it('durable mode: a background write answers before the fsync, synced() only after it', async () => {
      const { held, started, restore } = await reopenDurableWithHeldFsync();
      const background = viewOf(driver);
      try {
        const mark = driver.mark();
        await background.insertInto('items').values({ id: 1, name: 'background' }).execute();
        let synced = false;
        const barrier = driver.synced(mark).then(() => (synced = true));
        await started();
        expect(committedNames()).toEqual(['background']); // committed, not yet known to be on disk
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(synced).toBe(false);
        held.finish!();
        await barrier;
        expect(driver.stats).toMatchObject({ commits: 1, syncs: 1 });
      } finally {
        restore();
      }
    });
  });

  it('an explicit transaction whose COMMIT fails is rolled back (Kysely asks), and the connection goes on', async () => {
    const outcome = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('items').values({ id: 1, name: 'in failed transaction' }).execute();
        await trx.insertInto('children').values({ id: 1, parent_id: 42 }).execute(); // deferred FK: fails at COMMIT
      })
      // better-sqlite3's native addon keeps the SqliteError class of the first test file that loaded it in this
      // Jest worker, so toThrow (which wants an Error of this realm) cannot be used: compare the message.
      .then(
        () => 'committed',
        (error: { message?: string }) => error.message,
      );
    expect(outcome).toMatch(/FOREIGN KEY/);
    await db.insertInto('items').values({ id: 2, name: 'after' }).execute();
    expect(committedNames()).toEqual(['after']);
  });

  it('a rolled-back transaction leaves nothing behind', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ id: 1, name: 'rolled back' }).execute();
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(committedNames()).toEqual([]);
    await db.insertInto('items').values({ id: 1, name: 'next' }).execute();
    expect(committedNames()).toEqual(['next']);
  });

  describe('executeTogether', () => {
    it('joins the open group: its statements commit with the others of the turn, not before', async () => {
      const other = db.insertInto('items').values({ id: 1, name: 'same turn' }).execute();
      const together = driver.executeTogether([
        db.insertInto('items').values({ id: 2, name: 'together a' }).compile(),
        db.insertInto('items').values({ id: 3, name: 'together b' }).compile(),
      ]);
      const results = await together;
      expect(results.map((result) => result.numAffectedRows)).toEqual([1n, 1n]);
      expect(committedNames()).toEqual([]); // ran, answered, not yet committed
      await other;
      expect(committedNames()).toEqual(['same turn', 'together a', 'together b']);
    });

    it('is all or nothing: a failing statement takes the earlier ones back, and the group goes on', async () => {
      await db.insertInto('items').values({ id: 1, name: 'taken' }).execute();
      const kept = db.insertInto('items').values({ id: 2, name: 'kept' }).execute();
      const failed = await driver
        .executeTogether([
          db.insertInto('items').values({ id: 3, name: 'undone' }).compile(),
          db.insertInto('items').values({ id: 4, name: 'taken' }).compile(), // unique violation
        ])
        .then(
          () => 'ran',
          (error: { message?: string }) => error.message,
        );
      expect(failed).toMatch(/UNIQUE/);
      await kept;
      expect(committedNames()).toEqual(['taken', 'kept']);
    });
  });
});
