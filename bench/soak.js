// `npm run bench:soak`: the embedded profile at a steady rate for minutes with a short retention, to show the
// database stop growing once retention deletes as fast as intake adds, and what purging costs intake latency.
// Usage: npm run build && npm run bench:soak [-- --rate 200 --duration 180 --retention 30s --window 10 --no-compare]
// It then runs the same load with retention off (unless --no-compare): the size the tables would otherwise reach,
// and intake latency in the same windows without purging.
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { spawn } = require('node:child_process');
const { mkdtempSync, rmSync, statSync } = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { performance } = require('node:perf_hooks');
const { clearInterval, setInterval } = require('node:timers');
const { Worker } = require('node:worker_threads');
const { APP_ENV, freePort, option: arg, payload, pct, postWebhook, sleep, startSink, waitUp } = require('./common');
const { pace } = require('./pace');

const RATE = Number(arg('rate', 200));
const DURATION_S = Number(arg('duration', 180));
const RETENTION = arg('retention', '30s');
const WINDOW_S = Number(arg('window', 10));
const ROOT = join(__dirname, '..');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const size = (file) => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const BUSINESS_TABLES = ['contents', 'entities', 'task_results'];

/**
 * Reads the database beside the running app, in a worker thread so neither the load generator's event loop nor
 * the app is held up (the app's /metrics is not scraped during the run: its gauges count rows): bytes per table
 * from SQLite's dbstat (delivery tables vs business data), free pages, and deliveries kept.
 */
const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const BetterSqlite3 = require(workerData.driver);
parentPort.on('message', () => {
  const db = new BetterSqlite3(workerData.file, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare('SELECT s.tbl_name AS name, SUM(d.pgsize) AS bytes FROM dbstat d JOIN sqlite_schema s ON s.name = d.name GROUP BY s.tbl_name').all();
    const business = workerData.business;
    const sum = (pick) => tables.filter((row) => pick(row.name)).reduce((total, row) => total + row.bytes, 0);
    parentPort.postMessage({
      deliveryBytes: sum((name) => !business.includes(name) && !name.startsWith('sqlite_') && !name.startsWith('kysely_')),
      businessBytes: sum((name) => business.includes(name)),
      freeBytes: db.pragma('freelist_count', { simple: true }) * db.pragma('page_size', { simple: true }),
      rows: db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get().n,
    });
  } finally {
    db.close();
  }
});
`;

function startSampler(file) {
  const worker = new Worker(SAMPLER, { eval: true, workerData: { file, business: BUSINESS_TABLES, driver: require.resolve('better-sqlite3') } });
  return {
    sample: () => new Promise((resolve) => (worker.once('message', resolve), worker.postMessage('sample'))),
    stop: () => worker.terminate(),
  };
}

/** The retention counter from /metrics, read once at the end (a scrape also counts rows: not during the run). */
async function deletedTotal(port) {
  const text = await new Promise((resolve, reject) =>
    http.get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
  return Number((text.match(/^modelriver_retention_deleted_rows_total\{table="webhook_deliveries"\} (\S+)$/m) ?? [])[1] ?? 0);
}

/** One steady run: size, rows and intake latency per window. */
async function soak(retention, sink) {
  const dir = mkdtempSync(join(tmpdir(), 'mr-soak-'));
  const file = join(dir, 'soak.db');
  const port = await freePort();
  // NODE_ENV=test: production refuses a retention under 24 h, which a soak of minutes needs.
  const env = { ...APP_ENV, NODE_ENV: 'test', PORT: String(port), DATABASE_URL: `sqlite:${file}`, DELIVERY_RETENTION: retention, FAILED_RETENTION: retention };
  const app = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const windows = [];
  try {
    await waitUp(port);
    const sampler = startSampler(file);
    let current = { latencies: [], statuses: new Map(), accepted: 0 };
    let previousRows = 0;
    const started = performance.now();
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      const done = current;
      current = { latencies: [], statuses: new Map(), accepted: 0 };
      const t = Math.round((performance.now() - started) / 1000);
      sampling = sampling.then(async () => {
        const db = await sampler.sample();
        windows.push({
          t,
          ...db,
          dbBytes: size(file),
          walBytes: size(`${file}-wal`),
          // What left the table in this window: what was there, plus what came in, minus what is there now.
          deleted: Math.max(0, previousRows + done.accepted - db.rows),
          p50: pct(done.latencies, 50),
          p99: pct(done.latencies, 99),
          non200: [...done.statuses].filter(([status]) => status !== 200).reduce((sum, [, k]) => sum + k, 0),
        });
        previousRows = db.rows;
      });
    }, WINDOW_S * 1000);
    let n = 0;
    await pace(RATE, RATE * DURATION_S, (due) => {
      const bucket = current;
      void postWebhook(agent, port, payload(sink.url, n++)).then(({ status, error }) => {
        bucket.latencies.push(performance.now() - due);
        const key = error ? `error ${error}` : status;
        bucket.statuses.set(key, (bucket.statuses.get(key) ?? 0) + 1);
        if (status === 200) bucket.accepted++;
      });
    });
    await sleep(WINDOW_S * 1000 + 200);
    clearInterval(timer);
    await sampling;
    await sampler.stop();
    return { windows, deleted: await deletedTotal(port) };
  } finally {
    app.kill('SIGTERM');
    await new Promise((resolve) => app.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(title, windows) {
  console.log(`\n### ${title}\n`);
  console.log('| t (s) | file MB | WAL MB | free pages MB | delivery tables MB | business data MB | deliveries kept | deleted in window | intake p50 ms | intake p99 ms | non-200 |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const fixed = (value) => (Number.isFinite(value) ? value.toFixed(1) : '-');
  for (const w of windows) {
    console.log(
      `| ${w.t} | ${mb(w.dbBytes)} | ${mb(w.walBytes)} | ${Number.isFinite(w.freeBytes) ? mb(w.freeBytes) : '-'} | ${mb(w.deliveryBytes)} | ${mb(w.businessBytes)} | ${w.rows} | ${w.deleted} | ${fixed(w.p50)} | ${fixed(w.p99)} | ${w.non200} |`,
    );
  }
}

async function main() {
  const sink = await startSink();
  try {
    console.log(`steady ${RATE} webhooks/s for ${DURATION_S} s, DELIVERY_RETENTION=FAILED_RETENTION=${RETENTION}, then the same with retention off; a row every ${WINDOW_S} s (SQLITE_SYNCHRONOUS=FULL)`);
    const on = await soak(RETENTION, sink);
    report(`retention ${RETENTION}`, on.windows);
    const off = process.argv.includes('--no-compare') ? undefined : await soak('off', sink);
    if (off) report('retention off (the same load)', off.windows);

    const last = on.windows.at(-2) ?? on.windows.at(-1); // the final window has no load in it
    const firstPurge = on.windows.findIndex((w) => w.deleted > 0);
    const steady = firstPurge === -1 ? [] : on.windows.slice(firstPurge + 1, -1);
    console.log(`\nretention ${RETENTION}: ${on.deleted} deliveries deleted by retention`);
    if (steady.length >= 2) {
      const range = (pick) => `${mb(Math.min(...steady.map(pick)))}–${mb(Math.max(...steady.map(pick)))} MB`;
      const seconds = last.t - steady[0].t;
      console.log(
        `after the first purge (${seconds} s): delivery tables ${range((w) => w.deliveryBytes)}, free pages ${range((w) => w.freeBytes)}, WAL ${range((w) => w.walBytes)}; ` +
          `the file grew ${mb(last.dbBytes - steady[0].dbBytes)} MB, of which business data (never deleted) ${mb(last.businessBytes - steady[0].businessBytes)} MB. ` +
          `About ${(last.deliveryBytes / last.rows / 1024).toFixed(1)} KB of delivery tables per delivery kept.`,
      );
    }
    if (off) {
      const offLast = off.windows.at(-2) ?? off.windows.at(-1);
      console.log(`retention off: delivery tables reached ${mb(offLast.deliveryBytes)} MB (${offLast.rows} deliveries) and were still growing`);
      // Intake latency in the same windows of the two runs: what purging costs.
      const p99s = (windows) => windows.slice(firstPurge + 1, -1).map((w) => w.p99).filter(Number.isFinite);
      const median = (values) => pct(values, 50);
      const [withPurge, without] = [p99s(on.windows), p99s(off.windows)];
      if (withPurge.length && without.length) {
        console.log(
          `intake p99 per window after the first purge: with retention median ${median(withPurge).toFixed(1)} ms (max ${Math.max(...withPurge).toFixed(1)}), ` +
            `same windows without retention median ${median(without).toFixed(1)} ms (max ${Math.max(...without).toFixed(1)})`,
        );
      }
    }
  } finally {
    sink.server.close();
    agent.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
