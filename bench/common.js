// What the benches share: the signed payload, the callback sink, ports, backends for the scale profile, and
// process CPU time read from /proc.
'use strict';
const { Buffer } = require('node:buffer');
const { createHmac, randomUUID } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const http = require('node:http');
const { createServer } = require('node:net');
const { clearInterval, setImmediate, setInterval } = require('node:timers');

const SECRET = 'whsec_bench_secret_0123456789abcdef';

/** `--name value` from the command line, or `fallback`; `numberOption` reads it as a number. */
const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const numberOption = (name, fallback) => Number(option(name, fallback));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
};
const ephemeralPort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
/** Ports freePort gave out: the system may hand out a port it just took back again (an app's and its sandbox's). */
const givenOut = new Set();
async function freePort() {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await ephemeralPort();
    if (!givenOut.has(port)) {
      givenOut.add(port);
      return port;
    }
  }
  throw new Error('no port this process has not used already: 100 tries');
}

/** Callbacks arrive here; we note when each channel was first called back, and how often. */
function startSink() {
  const received = new Map();
  const counts = new Map();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const channel = decodeURIComponent(req.url.split('/').pop());
      if (!received.has(channel)) received.set(channel, Date.now());
      counts.set(channel, (counts.get(channel) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, received, counts, url: `http://127.0.0.1:${server.address().port}` })),
  );
}

/** A signed ~1.5 KB task.ai_generated delivery with a fresh channel: content_ready for even n, entities_extracted for odd. */
function payload(sinkUrl, n) {
  const channelId = randomUUID();
  const contentReady = n % 2 === 0;
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(16);
  const body = JSON.stringify({
    type: 'task.ai_generated',
    event: contentReady ? 'content_ready' : 'entities_extracted',
    channel_id: channelId,
    ai_response: {
      data: contentReady ? { title: `Benchmark article ${n}`, body: filler } : { entities: [{ name: 'Ada Lovelace', type: 'person' }, { name: 'London', type: 'place' }], text: filler },
      meta: { provider: 'bench', model: 'bench-1', duration_ms: 120 },
    },
    callback_url: `${sinkUrl}/v1/callback/${channelId}`,
    callback_required: true,
    customer_data: { user_id: `user-${n}` },
    meta: { workflow: contentReady ? 'content_generator' : 'entity_extractor' },
    timestamp: new Date().toISOString(),
  });
  return { channelId, body, signature: createHmac('sha256', SECRET).update(body).digest('hex') };
}

/**
 * POSTs a signed delivery (from payload()) over `agent`, giving up after 30 s; resolves once with the HTTP status
 * and the Retry-After header, or with status 0 and the socket error's code.
 */
function postWebhook(agent, port, p) {
  return new Promise((resolve) => {
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/webhooks/modelriver',
        timeout: 30_000,
        headers: { 'content-type': 'application/json', 'mr-signature': p.signature, 'content-length': Buffer.byteLength(p.body) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode, retryAfter: response.headers['retry-after'] }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    // An error after the answer (a reset socket) changes nothing: the promise has settled.
    request.on('error', (error) => resolve({ status: 0, error: error.code ?? error.message }));
    request.end(p.body);
  });
}

async function waitUp(port) {
  for (let i = 0; i < 200; i++) {
    try {
      await new Promise((resolve, reject) => http.get(`http://127.0.0.1:${port}/health/live`, (res) => (res.resume(), resolve())).on('error', reject));
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('target did not start');
}

/** The built app as the benches run it: production mode, no sandbox, callbacks allowed to the local sink. */
const APP_ENV = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  MODELRIVER_API_KEY: 'mr_live_bench_key',
  MODELRIVER_WEBHOOK_SECRET: SECRET,
  REALTIME_TOKEN_SECRET: 'bench_realtime_secret_0123456789abcdef',
  MODELRIVER_SANDBOX: 'false',
  CALLBACK_ALLOW_HTTP: 'true',
  CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
  LOG_LEVEL: 'warn',
  ADMIN_TOKEN: '',
};

const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/10';

/** A fresh PostgreSQL database and an empty Redis database, or the reason the scale profile is skipped. */
async function scaleBackends() {
  if (process.argv.includes('--no-scale')) return { skipped: '--no-scale' };
  const { Client } = require('pg');
  const IORedis = require('ioredis');
  const name = `mr_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  const redis = new IORedis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await redis.connect();
    await redis.flushdb();
  } catch (error) {
    return { skipped: `PostgreSQL or Redis not reachable (${error.message})` };
  } finally {
    await admin.end().catch(() => undefined);
    redis.disconnect();
  }
  return {
    databaseUrl: PG_URL.replace(/\/[^/]*$/, `/${name}`),
    redisUrl: REDIS_URL,
    async drop() {
      const client = new Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
      const r = new IORedis(REDIS_URL);
      await r.flushdb();
      r.disconnect();
    },
  };
}

/** Whether this machine can pin processes to cores (taskset exists and there are at least two). */
const canPin = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return require('node:os').cpus().length > 1;
  } catch {
    return false;
  }
})();

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/** User + system time in ms from a /proc stat file (a process's or one of its threads'). */
function statCpuMs(file) {
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat; 0 once it is gone. */
function cpuMs(pid) {
  try {
    return statCpuMs(`/proc/${pid}/stat`);
  } catch {
    return 0;
  }
}

/**
 * A process's CPU time (user + system, ms) split between its main thread and the rest (on the app: libuv's pool
 * syncing the SQLite log, the checkpoint thread, V8's garbage-collection helpers). Zeros once it is gone.
 */
function threadCpuMs(pid) {
  const split = { main: 0, others: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) split[Number(tid) === pid ? 'main' : 'others'] += statCpuMs(`/proc/${pid}/task/${tid}/stat`);
  } catch {
    // a thread or the process ended while being read
  }
  return split;
}

/**
 * How many times the threads of a process were put on a CPU (the third field of each thread's
 * /proc/<pid>/task/<tid>/schedstat): each wake-up from a sleep, and each return after being preempted. 0 once it is gone.
 */
function timeslices(pid) {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[2]) || 0;
    }
    return total;
  } catch {
    return 0;
  }
}

/** This thread's run time in µs (schedstat's first field, nanoseconds), precise where /proc/<pid>/stat counts ticks. */
function ownRunUs() {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
}

/**
 * What this machine charges a thread for one sleep → wake with nothing to do: run time per wake-up of a 2 ms timer,
 * minus a turn that does not sleep (setImmediate). On bare metal a few µs; on a VM whose idle vCPU the host
 * deschedules, the wake path (and cold caches after it) can cost 100 µs and more, which then dominates the CPU per
 * delivery of any process that sleeps between round trips. Run while nothing else is loaded; ~1 s. Linux only (null
 * elsewhere).
 */
async function wakeUpCost(wakes = 400) {
  if (!existsSync(`/proc/self/task/${process.pid}/schedstat`)) return null;
  const perTurn = async (count, next) => {
    const before = ownRunUs();
    for (let i = 0; i < count; i++) await new Promise(next);
    return (ownRunUs() - before) / count;
  };
  const spinning = await perTurn(wakes * 10, (resolve) => setImmediate(resolve));
  const sleeping = await perTurn(wakes, (resolve) => setTimeout(resolve, 2));
  return { per_wake_us: +Math.max(0, sleeping - spinning).toFixed(1), per_turn_without_sleep_us: +spinning.toFixed(1) };
}

/** The pids of every process with this exact command name (the PostgreSQL server and its backends, Redis). */
function pidsOf(name) {
  try {
    return execFileSync('pgrep', ['-x', name]).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU time a group of processes spends between start() and stop(), sampled every 200 ms: `pids()` is read at each
 * sample, so backends that start later count from zero and ones that exit keep what they had at their last sample.
 */
class CpuMeter {
  constructor(pids) {
    this.pids = pids;
  }

  start() {
    this.first = new Map();
    this.last = new Map();
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 200);
    this.startedAt = Date.now();
    return this;
  }

  sample(initial) {
    for (const pid of this.pids()) {
      const now = { ms: cpuMs(pid), slices: timeslices(pid) };
      if (now.ms === 0) continue;
      if (!this.first.has(pid)) this.first.set(pid, initial ? now : { ms: 0, slices: 0 });
      this.last.set(pid, now);
    }
  }

  /** { cpuMs, slices (times a thread was put on a CPU), elapsedMs } since start(). */
  stop() {
    this.sample(false);
    clearInterval(this.timer);
    let cpu = 0;
    let slices = 0;
    for (const [pid, last] of this.last) {
      const first = this.first.get(pid) ?? { ms: 0, slices: 0 };
      cpu += last.ms - first.ms;
      slices += last.slices - first.slices;
    }
    return { cpuMs: cpu, slices, elapsedMs: Date.now() - this.startedAt };
  }
}

/** An instance's /metrics; `value(name, labels)` reads one sample (labels as written, e.g. 'prepared="true"'), NaN if absent. */
async function readMetrics(port) {
  const text = await new Promise((resolve, reject) =>
    http
      .get(`http://127.0.0.1:${port}/metrics`, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
      })
      .on('error', reject),
  );
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return {
    value: (name, labels) => Number((text.match(new RegExp(`^${escape(name)}${labels ? escape(`{${labels}}`) : ''} (\\S+)$`, 'm')) ?? [])[1]),
  };
}

/**
 * The app's group-commit counters from its /metrics, as totals since it started: commits, the writes they carried,
 * seconds in COMMIT, and the SQLite log's fsyncs (run off the event loop) with the seconds they took.
 */
async function sqliteCommitCounters(port) {
  const { value } = await readMetrics(port);
  return {
    commits: value('modelriver_sqlite_commits_total'),
    writes: value('modelriver_sqlite_committed_writes_total'),
    commitSeconds: value('modelriver_sqlite_commit_seconds_total'),
    walSyncs: value('modelriver_sqlite_wal_syncs_total'),
    walSyncSeconds: value('modelriver_sqlite_wal_sync_seconds_total'),
  };
}

/**
 * The app's event loop as its own /metrics shows it: prom-client's delay histogram (a 10 ms libuv timer; each
 * scrape reads and resets it, so a scrape before a phase and one after it cover exactly that phase) and its
 * GC counters. Tells a tail caused by the app's own stalls from one caused by the machine or the load.
 */
async function eventLoopFigures(port) {
  const metrics = await readMetrics(port);
  // A GC kind that has not run yet has no sample in the histogram.
  const value = (name, labels) => metrics.value(name, labels) || 0;
  return {
    maxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
    p99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
    majorGcs: value('nodejs_gc_duration_seconds_count', 'kind="major"'),
    majorGcMs: value('nodejs_gc_duration_seconds_sum', 'kind="major"') * 1000,
    minorGcMs: value('nodejs_gc_duration_seconds_sum', 'kind="minor"') * 1000,
  };
}

/** What happened to the event loop between two eventLoopFigures() readings. */
function eventLoopOver(before, after) {
  return {
    delay_max_ms: Math.round(after.maxMs),
    delay_p99_ms: Math.round(after.p99Ms),
    major_gcs: after.majorGcs - before.majorGcs,
    major_gc_ms: Math.round(after.majorGcMs - before.majorGcMs),
    minor_gc_ms: Math.round(after.minorGcMs - before.minorGcMs),
  };
}

module.exports = { APP_ENV, CpuMeter, SECRET, canPin, cpuMs, threadCpuMs, wakeUpCost, eventLoopFigures, eventLoopOver, freePort, numberOption, option, payload, pct, pidsOf, postWebhook, readMetrics, scaleBackends, sleep, sqliteCommitCounters, startSink, waitUp };
