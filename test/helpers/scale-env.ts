import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { AppProcess, freePort, startAppProcess } from './app-process';
import { CallbackSink } from './callback-sink';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_BASE_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Redis database index for the scale suite; flushed before every test. */
export const REDIS_TEST_DB = 9;

export interface ScaleBackends {
  databaseUrl: string;
  redisUrl: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database and an empty Redis database for one test. */
export async function freshBackends(): Promise<ScaleBackends> {
  const name = `mr_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const redisUrl = `${REDIS_BASE_URL}/${REDIS_TEST_DB}`;
  const redis = new IORedis(redisUrl);
  await redis.flushdb();
  redis.disconnect();
  return {
    databaseUrl: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`),
    redisUrl,
    async drop() {
      const client = new Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface ScaleCluster {
  backends: ScaleBackends;
  sink: CallbackSink;
  /** A client of the test's database, connected. */
  pg: Client;
  /** Starts one more instance of the built app (`node dist/main.js`) on the test's PostgreSQL + Redis. */
  start(extra?: Record<string, string>): Promise<AppProcess>;
  rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Per test: a fresh PostgreSQL database and Redis database, a callback sink, and instances of the built app on
 * them (the scale profile as an operator runs it); every instance is killed and everything dropped afterwards.
 */
export function useScaleCluster(defaults: Record<string, string> = {}, options: { sinkDelayMs?: number } = {}): ScaleCluster {
  const apps: AppProcess[] = [];
  const cluster = {
    async start(extra: Record<string, string> = {}) {
      const app = await startAppProcess({
        PORT: String(await freePort()),
        DATABASE_URL: cluster.backends.databaseUrl,
        REDIS_URL: cluster.backends.redisUrl,
        ...defaults,
        ...extra,
      });
      apps.push(app);
      return app;
    },
    async rows(sql: string, params: unknown[] = []) {
      return (await cluster.pg.query(sql, params)).rows as Record<string, unknown>[];
    },
  } as ScaleCluster;
  beforeEach(async () => {
    cluster.backends = await freshBackends();
    cluster.sink = await new CallbackSink({ delayMs: options.sinkDelayMs }).start();
    cluster.pg = new Client({ connectionString: cluster.backends.databaseUrl });
    await cluster.pg.connect();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.kill('SIGKILL');
    await cluster.pg.end().catch(() => undefined);
    await cluster.sink.close();
    await cluster.backends.drop();
  });
  return cluster;
}
