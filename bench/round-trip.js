// `npm run bench:round-trip`: what one loopback round trip to PostgreSQL and to Redis costs this process in CPU,
// at a low and a high steady rate. The scale profile makes ~15 of them per delivery, so this is its unit price
// on the machine at hand; the no-op row is the pacing loop's own cost, subtracted from the others.
// Usage: node bench/round-trip.js [--seconds 3]   (BENCH_PG_URL, BENCH_REDIS_URL as for bench/pipeline.js)
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { execFileSync } = require('node:child_process');
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { Pool } = require('pg');
const IORedis = require('ioredis');
const { pace } = require('./pace');

const i = process.argv.indexOf('--seconds');
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 3;
const RATES = [200, 1000, 4000];
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/10';

/** Runs `op` `rate` times a second, evenly spaced, for SECONDS; CPU of this process (all threads) per op, in µs. */
async function cpuPerOp(op, rate) {
  const total = rate * SECONDS;
  const pending = [];
  const before = process.cpuUsage();
  await pace(rate, total, () => pending.push(op()));
  await Promise.all(pending);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / total;
}

async function main() {
  try {
    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    // no taskset: the figures then include the scheduler moving us around
  }
  const pool = new Pool({ connectionString: PG_URL, max: 10, connectionTimeoutMillis: 2000 });
  pool.on('error', () => undefined);
  const redis = new IORedis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  const targets = [['no-op (the pacing loop alone)', () => Promise.resolve()]];
  try {
    await pool.query('select 1');
    targets.push(['PostgreSQL: select $1 (pool of 10)', () => pool.query('select $1::int as x', [1])]);
  } catch (error) {
    console.log(`PostgreSQL skipped: ${error.message}`);
  }
  try {
    await redis.connect();
    targets.push(['Redis: PING', () => redis.ping()]);
  } catch (error) {
    console.log(`Redis skipped: ${error.message}`);
  }
  const rows = [];
  for (const [name, op] of targets) {
    await cpuPerOp(op, 1000); // warm-up: JIT, connections
    const row = { name };
    for (const rate of RATES) row[rate] = await cpuPerOp(op, rate);
    rows.push(row);
  }
  await pool.end();
  redis.disconnect();

  const [idle] = rows;
  const cell = (row, rate) => (row === idle ? Math.round(row[rate]) : Math.round(row[rate] - idle[rate]));
  console.log(
    [
      `\nCPU of one client process per operation, µs (steady, evenly spaced; ${SECONDS} s per rate; the no-op's cost subtracted below it)`,
      `| operation | ${RATES.map((r) => `${r}/s`).join(' | ')} |`,
      `|---|${RATES.map(() => '---').join('|')}|`,
      ...rows.map((row) => `| ${row.name} | ${RATES.map((r) => cell(row, r)).join(' | ')} |`),
    ].join('\n'),
  );
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const file = join(__dirname, 'results', `round-trip-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ seconds: SECONDS, rates: RATES, rows }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
