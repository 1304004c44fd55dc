import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, DatabaseConnection, Driver, QueryResult, SqliteDialect } from 'kysely';
import { WriteBarrier } from './write-barrier';

/** A group never grows past this many writes: the commit then happens at once. */
const MAX_GROUP = 1000;
const STATEMENT_CACHE = 256;

/** Read by the metrics endpoint: how many commits, and how many write statements they carried. */
export interface GroupCommitStats {
  commits: number;
  statements: number;
  commitSeconds: number;
  /** fsyncs of the write-ahead log made off the event loop (durable mode only). */
  syncs: number;
  syncSeconds: number;
}

export interface GroupCommitOptions {
  /**
   * The connection's file, to make every commit durable before anyone hears of it: the connection runs with
   * `synchronous = NORMAL` (COMMIT writes the WAL without waiting for the disk) and this driver fsyncs the
   * WAL on libuv's thread pool after each group. Same guarantee as `synchronous = FULL`, but the event loop
   * keeps serving while the disk works, and commits made meanwhile share the next fsync.
   */
  durableFile?: string;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** When a caller's promise settles: after its group's commit (and fsync), or as soon as its statement ran. */
type Answer = 'committed' | 'executed';

/**
 * SQLite on one better-sqlite3 connection, with group commit.
 *
 * better-sqlite3 runs each statement synchronously, so on one connection the cost of a write is its commit
 * (with `synchronous = FULL`, an fsync). Here the first write of an event-loop turn opens a transaction;
 * every statement of that turn (from any caller) runs inside it, and one COMMIT at the end of the turn
 * (setImmediate) makes them all durable together. No caller hears back before that commit: a write's
 * promise, and a read's that may have seen an uncommitted write, settle after it. So "answered after the
 * commit" still holds for every caller, while N concurrent writers share one fsync instead of N.
 *
 * A failing statement rolls back only itself (SQLite's statement atomicity) and rejects at once; the group
 * goes on. A failing COMMIT rejects every caller in the group. Explicit transactions (`db.transaction()`)
 * commit the open group first and then have the connection to themselves until they end.
 *
 * Background work that answers no one (the queue's worker) may use `background`, whose callers hear back as
 * soon as their statement ran in the open group: a job's steps then follow each other at CPU speed instead
 * of one commit (and fsync) apart. Nothing is lost by that: the log is ordered, so no later write becomes
 * durable without the earlier ones. Such work calls `synced` (see WriteBarrier) before any effect outside
 * the process, such as a callback.
 */
export class GroupCommitSqliteDriver implements Driver, WriteBarrier {
  private readonly statements = new Map<string, SqliteDatabase.Statement>();
  private waiters: Waiter[] = [];
  private groupWrites = 0;
  /** Whether a write of the open group changed a row: a group that changed none has nothing to fsync. */
  private groupChanged = false;
  private flushScheduled = false;
  /** The explicit transaction that owns the connection, and a promise that settles when it ends. */
  private owner?: { connection: DatabaseConnection; ended: Promise<void>; end: () => void };
  private transactionQueue: Promise<void> = Promise.resolve();
  readonly stats: GroupCommitStats = { commits: 0, statements: 0, commitSeconds: 0, syncs: 0, syncSeconds: 0 };
  /** The WAL fsync running now, and the one that will cover commits made while it runs. */
  private syncing?: Promise<void>;
  private nextSync?: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void };
  private walFd?: number;
  private flushAfterSync = false;
  /** Failed group commits and fsyncs so far (WriteBarrier). */
  private failures = 0;

  constructor(
    private readonly sqlite: SqliteDatabase.Database,
    private readonly options: GroupCommitOptions = {},
  ) {}

  /** The connection itself (Kysely's SqliteDialect wants it in its config; only this driver uses it). */
  get database(): SqliteDatabase.Database {
    return this.sqlite;
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(this.connection('committed'));
  }

  /** A driver over the same connection whose callers hear back as soon as their statement ran (see above). */
  get background(): Driver {
    return {
      init: () => Promise.resolve(),
      acquireConnection: () => Promise.resolve(this.connection('executed')),
      beginTransaction: (connection) => this.beginTransaction(connection),
      commitTransaction: () => this.endTransaction('COMMIT', 'executed'),
      rollbackTransaction: () => this.rollbackTransaction(),
      releaseConnection: () => Promise.resolve(),
      // The connection belongs to the main driver, which closes it.
      destroy: () => Promise.resolve(),
    };
  }

  mark(): number {
    return this.failures;
  }

  async synced(since: number): Promise<void> {
    if (this.sqlite.inTransaction && !this.owner) {
      // Join the open group: its commit (and fsync) covers everything executed so far.
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    } else {
      await (this.nextSync?.promise ?? this.syncing);
    }
    if (this.failures > since) throw new Error('a commit failed after this work began: some of its writes may be lost');
  }

  private connection(answer: Answer): DatabaseConnection {
    const connection: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery) => this.execute<R>(connection, query, answer),
      streamQuery: () => {
        throw new Error('streaming is not supported by this driver');
      },
    };
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // Explicit transactions take turns; each waits for the previous one, then for the open group to commit.
    const previous = this.transactionQueue;
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.transactionQueue = previous.then(() => ended);
    await previous;
    this.flush();
    try {
      this.sqlite.exec('BEGIN');
    } catch (error) {
      end();
      throw error;
    }
    this.owner = { connection, ended, end };
  }

  commitTransaction(): Promise<void> {
    return this.endTransaction('COMMIT');
  }

  rollbackTransaction(): Promise<void> {
    return this.endTransaction('ROLLBACK');
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.flushAfterSync = false;
    this.flush();
    await (this.nextSync?.promise ?? this.syncing)?.catch(() => undefined);
    this.sqlite.close();
    if (this.walFd !== undefined) closeSync(this.walFd);
  }

  private async endTransaction(command: 'COMMIT' | 'ROLLBACK', answer: Answer = 'committed'): Promise<void> {
    const owner = this.owner;
    try {
      if (this.sqlite.inTransaction) this.sqlite.exec(command);
    } finally {
      this.owner = undefined;
      owner?.end();
    }
    if (command === 'COMMIT' && answer === 'committed') await this.durable();
    else if (command === 'COMMIT') void this.durable()?.catch(() => undefined);
  }

  private async execute<R>(connection: DatabaseConnection, query: CompiledQuery, answer: Answer): Promise<QueryResult<R>> {
    while (this.owner && this.owner.connection !== connection) await this.owner.ended;
    const statement = this.prepare(query.sql);
    if (this.owner) return run<R>(statement, query.parameters);

    if (!statement.readonly && !this.sqlite.inTransaction) {
      this.sqlite.exec('BEGIN');
      this.scheduleFlush();
    }
    const result = run<R>(statement, query.parameters); // throws: nothing of it was written
    if (!statement.readonly) this.groupChanged ||= result.rows.length > 0 || (result.numAffectedRows ?? 0n) > 0n;
    if (answer === 'executed') {
      if (!statement.readonly) this.countWrite();
      return result;
    }
    if (!this.sqlite.inTransaction) {
      // A read outside a group may have seen commits whose fsync is still running: answer after it.
      const pending = this.nextSync?.promise ?? this.syncing;
      return pending ? pending.then(() => result) : result;
    }
    const settled = new Promise<QueryResult<R>>((resolve, reject) =>
      this.waiters.push({ resolve: () => resolve(result), reject }),
    );
    if (statement.readonly) return settled;
    this.countWrite();
    return settled;
  }

  /**
   * Runs `queries` back to back, with nothing of anyone else's in between, inside the open group (they commit
   * with it), all or nothing (a savepoint): a small atomic unit that, unlike an explicit transaction, never takes
   * the connection from other callers or forces an early commit. Answers as soon as they ran (like `background`).
   */
  async executeTogether(queries: readonly CompiledQuery[]): Promise<QueryResult<unknown>[]> {
    while (this.owner) await this.owner.ended;
    if (!this.sqlite.inTransaction) {
      this.sqlite.exec('BEGIN');
      this.scheduleFlush();
    }
    this.sqlite.exec('SAVEPOINT together');
    let results: QueryResult<unknown>[];
    try {
      results = queries.map((query) => run(this.prepare(query.sql), query.parameters));
    } catch (error) {
      this.sqlite.exec('ROLLBACK TO together; RELEASE together');
      throw error;
    }
    this.sqlite.exec('RELEASE together');
    for (const result of results) {
      if ((result.numAffectedRows ?? 0n) > 0n) this.groupChanged = true;
      this.countWrite();
    }
    return results;
  }

  private countWrite(): void {
    if (++this.groupWrites >= MAX_GROUP) this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      // While the disk is busy with the previous group, this one keeps growing; it commits when that fsync
      // ends. Fewer, larger commits also rewrite the same hot pages into the log fewer times.
      if (this.syncing) this.flushAfterSync = true;
      else this.flush();
    });
  }

  /** Commits the open group (if any) and settles everyone waiting on it. */
  private flush(): void {
    if (!this.sqlite.inTransaction || this.owner) return;
    const waiters = this.waiters;
    const writes = this.groupWrites;
    const changed = this.groupChanged;
    this.waiters = [];
    this.groupWrites = 0;
    this.groupChanged = false;
    const started = performance.now();
    try {
      this.sqlite.exec('COMMIT');
    } catch (error) {
      this.failures++;
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.statements += writes;
    this.stats.commitSeconds += (performance.now() - started) / 1000;
    // A group that changed nothing (say, a claim that found no work) added nothing to the log: its callers
    // wait only for the fsync already running, which covers what they may have read.
    const durable = changed ? this.durable() : (this.nextSync?.promise ?? this.syncing);
    if (!durable) for (const waiter of waiters) waiter.resolve();
    else
      durable.then(
        () => waiters.forEach((waiter) => waiter.resolve()),
        (error: unknown) => waiters.forEach((waiter) => waiter.reject(error)),
      );
  }

  /**
   * In durable mode, a promise that settles once everything committed so far is on disk. One fsync runs at
   * a time; commits made while it runs wait for the next one, which covers them all.
   */
  private durable(): Promise<void> | undefined {
    if (!this.options.durableFile) return undefined;
    if (!this.syncing) return (this.syncing = this.syncWal());
    if (!this.nextSync) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
      this.nextSync = { promise, resolve, reject };
    }
    return this.nextSync.promise;
  }

  private syncWal(): Promise<void> {
    if (this.walFd === undefined) {
      this.walFd = openSync(`${this.options.durableFile!}-wal`, 'r+');
      // The log file may have just been created: make its directory entry durable too (once).
      const directory = openSync(dirname(this.options.durableFile!), 'r');
      try {
        fsyncSync(directory);
      } finally {
        closeSync(directory);
      }
    }
    const started = performance.now();
    return new Promise<void>((resolve, reject) =>
      fsync(this.walFd!, (error) => {
        this.stats.syncs++;
        if (error) this.failures++;
        this.stats.syncSeconds += (performance.now() - started) / 1000;
        const next = this.nextSync;
        this.nextSync = undefined;
        this.syncing = undefined;
        if (next) {
          this.syncing = this.syncWal();
          this.syncing.then(next.resolve, next.reject);
        }
        if (error) reject(error);
        else resolve();
        if (this.flushAfterSync) {
          this.flushAfterSync = false;
          this.flush();
        }
      }),
    );
  }

  /** Kysely prepares every query anew; the query shapes are few, so keep their statements (bounded). */
  private prepare(sql: string): SqliteDatabase.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.sqlite.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function run<R>(statement: SqliteDatabase.Statement, parameters: readonly unknown[]): QueryResult<R> {
  if (statement.reader) return { rows: statement.all(parameters) as R[] };
  const { changes, lastInsertRowid } = statement.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** Kysely's SQLite dialect (its compiler, adapter and introspector) with the group-commit driver, or its background view. */
export class GroupCommitSqliteDialect extends SqliteDialect {
  constructor(
    core: GroupCommitSqliteDriver,
    private readonly driver: Driver = core,
  ) {
    super({ database: core.database });
  }

  override createDriver(): Driver {
    return this.driver;
  }
}
