import { sql } from 'kysely';
import { Db } from './database.types';

export interface SqliteSpace {
  pageSize: number;
  pages: number;
  freePages: number;
  /** `incremental`: free pages can be given back to the file system (new files are created so). */
  autoVacuum: 'none' | 'full' | 'incremental';
}

const AUTO_VACUUM = ['none', 'full', 'incremental'] as const;

async function pragma(db: Db, name: string): Promise<number> {
  const { rows } = await sql<Record<string, number>>`PRAGMA ${sql.raw(name)}`.execute(db);
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}

export async function sqliteSpace(db: Db): Promise<SqliteSpace> {
  return {
    pageSize: await pragma(db, 'page_size'),
    pages: await pragma(db, 'page_count'),
    freePages: await pragma(db, 'freelist_count'),
    autoVacuum: AUTO_VACUUM[await pragma(db, 'auto_vacuum')] ?? 'none',
  };
}

/**
 * Gives up to `pages` free pages back to the file system (the file shrinks). Only with incremental auto-vacuum;
 * each call moves at most that many pages, so a caller can spread the work between other writes.
 */
export async function releaseFreePages(db: Db, pages: number): Promise<void> {
  await sql`PRAGMA ${sql.raw(`incremental_vacuum(${Math.max(0, Math.floor(pages))})`)}`.execute(db);
}
