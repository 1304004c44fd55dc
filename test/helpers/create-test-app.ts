import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import BetterSqlite3 from 'better-sqlite3';
import { AppOptions } from '../../src/app.module';
import { createApp } from '../../src/app.setup';
import { TEST_OLD_SECRET, TEST_SECRET } from './sign-webhook';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  dbFile: string;
  /** A read-only view of the app's database, for asserting what was (not) stored. */
  db: BetterSqlite3.Database;
  close(): Promise<void>;
}

export const BASE_TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: '0',
  // Failure paths are exercised on purpose; TEST_LOG_LEVEL=debug shows what the app logs.
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'fatal',
  MODELRIVER_API_KEY: 'mr_test_key_for_e2e',
  MODELRIVER_WEBHOOK_SECRET: `${TEST_SECRET},${TEST_OLD_SECRET}`,
  MODELRIVER_BASE_URL: 'https://api.modelriver.com',
  SQLITE_SYNCHRONOUS: 'NORMAL',
  QUEUE_POLL_INTERVAL_MS: '50',
  QUEUE_BACKOFF_BASE_MS: '20',
  QUEUE_BACKOFF_MAX_MS: '200',
  REALTIME_TOKEN_SECRET: 'realtime_test_secret_0123456789abcdef',
  // Explicit, because child processes also read the committed .env (which turns the sandbox on at port 3100).
  MODELRIVER_SANDBOX: 'false',
  CALLBACK_ALLOW_HTTP: 'true',
  CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
};

export function tempDir(prefix = 'mr-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Boots the real app the way main.ts does (createApp → configureApp, rawBody) on a fresh SQLite file
 * and a free loopback port. The environment is set only while the app is built, then restored.
 */
export async function startTestApp(env: Record<string, string> = {}, options: Omit<AppOptions, 'envFile'> = {}): Promise<TestApp> {
  const dir = tempDir();
  const merged = { ...BASE_TEST_ENV, DATABASE_URL: `sqlite:${join(dir, 'test.db')}`, ...env };
  const dbFile = merged.DATABASE_URL.replace(/^sqlite:/, '');
  const saved = { ...process.env };
  Object.assign(process.env, merged);
  let app: NestFastifyApplication;
  try {
    app = await createApp({ ...options, envFile: false });
    await app.listen(0, '127.0.0.1');
  } finally {
    process.env = saved;
  }
  const address = app.getHttpServer().address() as { port: number };
  // The read-only view exists for the embedded profile; scale tests query PostgreSQL themselves.
  const db = merged.DATABASE_URL.startsWith('sqlite:') ? new BetterSqlite3(dbFile, { readonly: true }) : undefined;
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    dbFile,
    get db() {
      if (!db) throw new Error('TestApp.db is the SQLite view; this app runs on PostgreSQL');
      return db;
    },
    async close() {
      db?.close();
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value, failing with `what` after a bounded time. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Takes SQLite's exclusive lock on `dbFile` from a second connection, as another process would. The app runs
 * in this process, so the lock is tried without waiting and retried between event-loop turns: a blocking
 * attempt would stall the very app whose open group commit it waits for.
 */
export async function lockDatabase(dbFile: string): Promise<{ release(): void }> {
  const locker = new BetterSqlite3(dbFile, { timeout: 0 });
  try {
    await waitFor('the exclusive lock', () => {
      try {
        locker.exec('BEGIN EXCLUSIVE');
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_BUSY') return undefined;
        throw error;
      }
    });
  } catch (error) {
    locker.close();
    throw error;
  }
  return {
    release() {
      locker.exec('ROLLBACK');
      locker.close();
    },
  };
}
