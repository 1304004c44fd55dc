import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { Client } from 'pg';

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
