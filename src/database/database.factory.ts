import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { DatabaseConfig } from '../config/configuration';
import { ConfigurationError } from '../config/environment';
import { Database, Db } from './database.types';
import { migrationProvider } from './migrations/migrations';

export function sqlitePath(url: string): string {
  return resolve(url.slice('sqlite:'.length));
}

function openSqlite(config: DatabaseConfig): Db {
  const file = sqlitePath(config.url);
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file, { timeout: config.busyTimeoutMs });
  // WAL lets readers run beside the single writer; FULL syncs every commit, so a 2xx answered after the
  // insert survives power loss as well as kill -9 (NORMAL survives process crashes only).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${config.sqliteSynchronous}`);
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** Opens the configured database and brings its schema up to date before anyone uses it. */
export async function createDatabase(config: DatabaseConfig): Promise<Db> {
  if (!config.url.startsWith('sqlite:')) {
    throw new ConfigurationError('DATABASE_URL: only the embedded sqlite: profile is available in this build');
  }
  const db = openSqlite(config);
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
  return db;
}
