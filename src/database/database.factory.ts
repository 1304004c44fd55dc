import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, QueryResult } from 'kysely';
import { Client, Pool, Query, types } from 'pg';
import { DatabaseConfig } from '../config/configuration';
import { lockDatabaseFile } from './database-lock';
import { Database, Db } from './database.types';
import { GroupCommitSqliteDialect, GroupCommitSqliteDriver, GroupCommitStats } from './group-commit-sqlite.driver';
import { migrationProvider } from './migrations/migrations';
import { preparedStatementName } from './prepared-query';
import { configureSqlite } from './sqlite-settings';
import { CheckpointStats } from './wal-checkpointer';
import { NO_BARRIER, WriteBarrier } from './write-barrier';

const logger = new Logger('Database');

export function sqlitePath(url: string): string {
  return resolve(url.slice('sqlite:'.length));
}

/** The database, as the app's services use it. */
export interface DatabaseHandles {
  dialect: 'sqlite' | 'postgres';
  /** Answers each caller once what it wrote (or may have read) is committed, and on disk with FULL. */
  db: Db;
  /**
   * For the worker, whose steps answer no one: on SQLite a statement answers as soon as it ran in the open
   * group commit, and the work calls `barrier.synced` before any effect outside the process. On PostgreSQL,
   * where a statement's commit is its own, this is `db`.
   */
  background: Db;
  barrier: WriteBarrier;
  /** SQLite's group-commit counters (PostgreSQL's server groups commits itself: none). */
  commitStats?: GroupCommitStats;
  /** SQLite's background checkpoints (WalCheckpointer). */
  checkpointStats?: CheckpointStats;
  /** PostgreSQL: statements sent, prepared or not. */
  statementStats?: StatementStats;
  /**
   * SQLite only: runs compiled statements back to back inside the open group commit, all or nothing, without
   * taking the connection from anyone (GroupCommitSqliteDriver.executeTogether).
   */
  executeTogether?(queries: readonly CompiledQuery[]): Promise<QueryResult<unknown>[]>;
  /** Closes the database (and gives up the SQLite file's lock). */
  close(): Promise<void>;
}

function openSqlite(config: DatabaseConfig): DatabaseHandles {
  const file = sqlitePath(config.url);
  mkdirSync(dirname(file), { recursive: true });
  // Before anything reads or writes a row: a second process on this file stops here.
  const lock = lockDatabaseFile(file);
  let sqlite: SqliteDatabase.Database;
  try {
    sqlite = new SqliteDatabase(file, { timeout: config.busyTimeoutMs });
  } catch (error) {
    lock.release();
    throw error;
  }
  const checkpointer = configureSqlite(sqlite, file, {
    busyTimeoutMs: config.busyTimeoutMs,
    onHealthChange: (healthy, error) =>
      healthy
        ? logger.log('background checkpoints work again')
        : logger.warn(`background checkpoint failed (${error}); the log is copied by commits once it holds 64 MiB`),
  });
  const driver = new GroupCommitSqliteDriver(sqlite, { durableFile: config.sqliteSynchronous === 'FULL' ? file : undefined });
  const db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(driver) });
  const background = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(driver, driver.background) });
  let closed: Promise<void> | undefined;
  // The checkpoint thread's connection closes first: the last connection to close checkpoints the log and removes it.
  const close = () => (closed ??= checkpointer.stop().then(() => db.destroy()).finally(() => lock.release()));
  return {
    dialect: 'sqlite',
    db,
    background,
    barrier: driver,
    commitStats: driver.stats,
    checkpointStats: checkpointer.stats,
    executeTogether: (queries) => driver.executeTogether(queries),
    close,
  };
}

const INT8 = 20;
// Times are epoch milliseconds in bigint columns: safe as JavaScript numbers. Set per pool, never globally.
const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === INT8 ? (value: string) => Number(value) : (types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format)) as typeof types.getTypeParser;

/** Statements sent to PostgreSQL by this process, counted as the client sends them. */
export interface StatementStats {
  /** Run as named (server-side prepared) statements: the per-delivery ones that PreparedQuery declares. */
  prepared: number;
  /** Everything else: ad-hoc and dashboard queries, migrations, transaction control. */
  unprepared: number;
}

/**
 * The pool's client class. With `prepared`, it runs the statements PreparedQuery declares as named (server-side
 * prepared) statements: each connection parses and plans such a statement once, and later executions only bind
 * and execute. Everything else (ad-hoc and dashboard queries, whose shapes vary) stays an unnamed statement,
 * parsed each time. Either way it counts what it sends (`stats`).
 */
function clientClass(stats: StatementStats, prepared: boolean): typeof Client {
  return class StatementClient extends Client {
    // One override for pg's many overloads: the (text, values) form Kysely uses may get a name, the rest pass through.
    /* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument */
    override query(config: any, values?: any, callback?: any): any {
      const name = prepared && typeof config === 'string' && callback === undefined && Array.isArray(values) ? preparedStatementName(config) : undefined;
      if (name === undefined) {
        stats.unprepared++;
        return super.query(config, values, callback);
      }
      stats.prepared++;
      // Built from the text, then named: pg (8.23) copies a config object property by property, descriptors and
      // all, on every query (~4.5 µs, four times a delivery); from a string it makes a plain object (~0.3 µs).
      return new Promise((resolve, reject) => {
        const query = new Query(config as string, values as unknown[], (error, result) => (error ? reject(error) : resolve(result)));
        (query as unknown as { name: string }).name = name;
        super.query(query);
      });
    }
    /* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument */
  };
}

function openPostgres(config: DatabaseConfig): DatabaseHandles {
  const statementStats: StatementStats = { prepared: 0, unprepared: 0 };
  const pool = new Pool({
    Client: clientClass(statementStats, config.preparedStatements),
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: 5000,
    types: { getTypeParser },
  });
  // A client that loses its server (a restart, a network cut) emits 'error'; unheard, that would crash the
  // process. Idle clients are replaced by the pool; an active one's query rejects and is handled where it ran.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  logger.log(
    `PostgreSQL: up to ${config.poolSize} connections, prepared statements ${config.preparedStatements ? 'on' : 'off (DATABASE_PREPARED_STATEMENTS=false)'}`,
  );
  return { dialect: 'postgres', db, background: db, barrier: NO_BARRIER, statementStats, close: () => db.destroy() };
}

/** Opens the configured database and brings its schema up to date before anyone uses it. */
export async function createDatabase(config: DatabaseConfig): Promise<DatabaseHandles> {
  const handles = config.url.startsWith('sqlite:') ? openSqlite(config) : openPostgres(config);
  const { db } = handles;
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    await handles.close();
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
  return handles;
}
