// Part of `npm run bench`: the full pipeline (built app, embedded profile) against a bare node:http baseline, in
// the same run on the same machine (the scale profile has its own script: bench/scale.js), and two floors: the bare
// server storing each delivery durably, and the bare server making every write and wait of the app's pipeline.
// Signed ~1.5 KB task.ai_generated deliveries with unique channel ids (half content_ready, half entities_extracted),
// callbacks to a local sink; per target a warm-up, a phase as fast as the connections go, and an open-loop phase at half
// that rate. Reports ratios, never bare figures alone: to the baseline, and the app's to the whole floor.
// Usage: npm run build && node bench/pipeline.js [--duration 15 --connections 64 --rate N --normal --prof]
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { spawn, execFileSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { APP_ENV, CpuMeter, canPin, SECRET, cpuMs, threadCpuMs, eventLoopFigures, eventLoopOver, freePort, numberOption: arg, sqliteCommitCounters, startSink, waitUp } = require('./common');
const { phase } = require('./phases');
const { categorize, table } = require('./profile-categories');

const DURATION = arg('duration', 15);
/** The embedded pipeline's target: this share of the bare baseline's req/s in the same run (bench/README.md). */
const TARGET_RATIO = 0.35;
const WARMUP = arg('warmup', 3);
const CONNECTIONS = arg('connections', 64);
// --rate N: run the open-loop phase at N req/s for every target (compare latency at one load) instead of half
// of each target's own maximum.
const RATE = arg('rate', 0);
const SYNC = process.argv.includes('--normal') ? 'NORMAL' : 'FULL';
// --prof: write a V8 CPU profile of each app run and of the whole floor's run to bench/results/ (open it in Chrome
// DevTools or speedscope), and print where the main thread's time went during the measured phase
// (bench/profile-categories.js): set side by side, the two tables show which parts the app adds to its floor.
const PROFILE = process.argv.includes('--prof');
const ROOT = join(__dirname, '..');
const RESULTS = join(ROOT, 'bench', 'results');

function launch(command, env) {
  const args = canPin ? ['-c', '0', process.execPath, ...command] : command;
  const child = spawn(canPin ? 'taskset' : process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

/** Runs `measure`; for the app, adds its event loop over exactly that run (`loop`, from its /metrics). */
async function withEventLoop(target, port, measure) {
  if (!target.app) return measure();
  const before = await eventLoopFigures(port);
  const result = await measure();
  return { ...result, loop: eventLoopOver(before, await eventLoopFigures(port)) };
}

/**
 * One run of a target: a fresh process, a warm-up, then as fast as the connections go, with the server's CPU time
 * (user + system, /proc) from the phase's start to its last callback: CPU per delivery at full rate, also split
 * between the main thread and the others.
 */
async function maxRun(target, sink) {
  const port = await freePort();
  const profile = PROFILE && target.profiled ? ['--cpu-prof', '--cpu-prof-dir', RESULTS] : [];
  const spawnedAt = Date.now();
  const child = launch([...profile, ...target.command], { ...target.env(), PORT: String(port) });
  let window;
  let max;
  let sqlite;
  try {
    await waitUp(port);
    await phase(port, sink, { duration: WARMUP, connections: CONNECTIONS });
    max = await withEventLoop(target, port, async () => {
      const startedAt = Date.now();
      const cpuBefore = cpuMs(child.pid);
      const threadsBefore = threadCpuMs(child.pid);
      const result = await phase(port, sink, { duration: DURATION, connections: CONNECTIONS });
      const threads = threadCpuMs(child.pid);
      window = { fromMs: startedAt - spawnedAt, toMs: Date.now() - spawnedAt };
      const perDelivery = (ms) => +(ms / Math.max(1, result.callbacks)).toFixed(3);
      return {
        ...result,
        cpu_ms_per_delivery: perDelivery(cpuMs(child.pid) - cpuBefore),
        main_thread_ms_per_delivery: perDelivery(threads.main - threadsBefore.main),
        other_threads_ms_per_delivery: perDelivery(threads.others - threadsBefore.others),
      };
    });
    if (target.app) sqlite = await commitFigures(port);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  // The profile is written as the process exits.
  return { max, sqlite, profile: profile.length > 0 ? profileTable(child.pid, window, max.main_thread_ms_per_delivery) : undefined };
}

/**
 * The main thread's profile of a run (the app's or the whole floor's), sorted into the pipeline's parts over the
 * measured phase (a table).
 */
function profileTable(pid, window, mainMsPerDelivery) {
  const file = readdirSync(RESULTS).find((name) => new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.0\\.\\d+\\.cpuprofile$`).test(name));
  if (!file) return undefined;
  const parts = categorize(JSON.parse(readFileSync(join(RESULTS, file), 'utf8')), window);
  return `\n  where the main thread's time went while the phase ran (${file}; profiling itself adds to every part):\n${table(parts, mainMsPerDelivery * 1000)}\n`;
}

/**
 * Open loop at `rate` (half of the target's maximum, unless --rate) in a fresh process after a warm-up: latency
 * from when each request was due, and webhook → callback latency; the server's CPU per delivery at that rate, how
 * busy its main thread was, and how many times its threads were put on a CPU per delivery (wake-ups: between
 * requests that arrive one by one a server sleeps, and on some VMs each wake-up costs more than the work it brings).
 */
async function halfRun(target, sink, rate) {
  const port = await freePort();
  const child = launch(target.command, { ...target.env(), PORT: String(port) });
  try {
    await waitUp(port);
    await phase(port, sink, { duration: WARMUP, connections: CONNECTIONS });
    return {
      rate,
      ...(await withEventLoop(target, port, async () => {
        const meter = new CpuMeter(() => [child.pid]).start();
        const mainBefore = threadCpuMs(child.pid).main;
        const result = await phase(port, sink, { duration: DURATION, rate, connections: CONNECTIONS });
        const mainMs = threadCpuMs(child.pid).main - mainBefore;
        const used = meter.stop();
        const perDelivery = (value, digits = 3) => +(value / Math.max(1, result.callbacks)).toFixed(digits);
        return {
          ...result,
          cpu_ms_per_delivery: perDelivery(used.cpuMs),
          main_thread_busy: +(mainMs / used.elapsedMs).toFixed(2),
          on_cpu_per_delivery: perDelivery(used.slices, 1),
        };
      })),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Several runs of one target as one: req/s and CPU from the sums, the worst tail. */
function combine(runs) {
  const sum = (pick) => runs.reduce((total, run) => total + pick(run), 0);
  const worst = (pick) => Math.max(...runs.map(pick).filter(Number.isFinite));
  // A CPU figure of the runs together: each run's weighted by the deliveries it covers.
  const perDelivery = (pick) => +(sum((r) => pick(r) * r.callbacks) / Math.max(1, sum((r) => r.callbacks))).toFixed(3);
  return {
    req_per_s: Math.round(sum((r) => r.req_per_s) / runs.length),
    runs_req_per_s: runs.map((r) => r.req_per_s),
    p50_ms: +(sum((r) => r.p50_ms) / runs.length).toFixed(1),
    p99_ms: worst((r) => r.p99_ms),
    non_2xx: sum((r) => r.non_2xx),
    accepted: sum((r) => r.accepted),
    callbacks: sum((r) => r.callbacks),
    sustained_per_s: Math.round(sum((r) => r.sustained_per_s) / runs.length),
    drain_after_stop_ms: worst((r) => r.drain_after_stop_ms),
    e2e_p50_ms: +(sum((r) => r.e2e_p50_ms) / runs.length).toFixed(1),
    e2e_p99_ms: worst((r) => r.e2e_p99_ms),
    cpu_ms_per_delivery: perDelivery((r) => r.cpu_ms_per_delivery),
    main_thread_ms_per_delivery: perDelivery((r) => r.main_thread_ms_per_delivery),
    other_threads_ms_per_delivery: perDelivery((r) => r.other_threads_ms_per_delivery),
  };
}

/**
 * The app's runs (combined) as multiples of the whole floor's: what everything beyond the promises' own writes and
 * waits costs.
 */
function floorMultiples(app, whole) {
  const multiple = (key) => +(app[key] / whole[key]).toFixed(2);
  return Object.fromEntries(['req_per_s', 'cpu_ms_per_delivery', 'main_thread_ms_per_delivery', 'other_threads_ms_per_delivery'].map((key) => [key, multiple(key)]));
}

/** The app's own group-commit counters: how many writes each SQLite commit carried, and time in COMMIT. */
async function commitFigures(port) {
  const c = await sqliteCommitCounters(port);
  return {
    commits: c.commits,
    writes_per_commit: +(c.writes / c.commits).toFixed(1),
    commit_seconds: +c.commitSeconds.toFixed(2),
    wal_syncs: c.walSyncs,
    wal_sync_seconds: +c.walSyncSeconds.toFixed(2),
  };
}

const loopLine = (loop) =>
  loop ? `event loop: longest gap ${loop.delay_max_ms} ms, p99 ${loop.delay_p99_ms} ms (the 10 ms timer's), GC ${loop.minor_gc_ms} ms in scavenges, ${loop.major_gcs} major (${loop.major_gc_ms} ms)` : 'event loop: -';

const ms = (value) => (Number.isFinite(value) ? value : '-');
/** A multiple; a division by a run that carried nothing (a failed floor) prints as such, not as Infinity or NaN. */
const times = (value) => (Number.isFinite(value) ? `${value.toFixed(2)} ×` : 'n/a (a run carried nothing)');

async function main() {
  if (canPin) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const sink = await startSink();
  const dir = mkdtempSync(join(tmpdir(), 'mr-bench-'));
  let databases = 0;
  const targets = {
    baseline: { key: 'baseline', name: 'baseline (bare node:http)', command: ['bench/baseline-server.js'], env: () => ({ SECRET }) },
    floor: {
      key: 'floor',
      name: `baseline + durable SQLite insert (${SYNC})`,
      command: ['bench/baseline-server.js'],
      env: () => ({ SECRET, STORE: join(dir, `floor-${databases++}.db`), SYNC }),
    },
    whole: {
      key: 'whole',
      name: `baseline + every write and wait of the app's pipeline (${SYNC})`,
      command: ['bench/baseline-server.js'],
      // The app's own tables and indexes, from the database of its first run (which comes first in the order below).
      env: () => ({ SECRET, STORE: join(dir, `whole-${databases++}.db`), SCHEMA_FROM: join(dir, 'app-0.db'), SYNC }),
      // Its main-thread split and (--prof) its profile, to set beside the app's.
      profiled: true,
    },
    app: {
      key: 'app',
      name: `app, embedded (SQLite, SQLITE_SYNCHRONOUS=${SYNC})`,
      command: ['dist/main.js'],
      app: true,
      profiled: true,
      env: () => ({ ...APP_ENV, DATABASE_URL: `sqlite:${join(dir, `app-${databases++}.db`)}`, SQLITE_SYNCHRONOUS: SYNC }),
    },
  };
  // Interleaved so that drift of the machine (other tenants, heat, page cache) falls alike on the app and on both
  // of its yardsticks, the bare baseline and the whole pipeline's floor: each pair's runs sit symmetrically around the
  // middle of the six, so a drift that is steady over them cancels in every ratio. Then the durable floor once.
  const order = ['app', 'baseline', 'whole', 'whole', 'baseline', 'app', 'floor'];
  const runs = { app: [], baseline: [], floor: [], whole: [] };
  const sqlite = [];
  const results = [];
  try {
    for (const key of order) {
      const run = await maxRun(targets[key], sink);
      runs[key].push(run.max);
      if (run.sqlite) sqlite.push(run.sqlite);
      const split = targets[key].profiled ? ` (main thread ${run.max.main_thread_ms_per_delivery}, other threads ${run.max.other_threads_ms_per_delivery})` : '';
      console.log(`  ${targets[key].name}: ${run.max.req_per_s} req/s, ${run.max.cpu_ms_per_delivery} ms CPU per delivery${split}`);
      if (run.profile) console.log(run.profile);
    }
    for (const target of [targets.baseline, targets.floor, targets.whole, targets.app]) {
      const max = combine(runs[target.key]);
      const rate = RATE || Math.max(1, Math.round(Math.min(max.req_per_s, max.sustained_per_s) / 2));
      results.push({ key: target.key, name: target.name, max, half: await halfRun(target, sink, rate) });
    }
  } finally {
    sink.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // The ratios from the sums of the runs (the app's, the baseline's and the whole floor's interleaved), which
  // combine() has already made into each target's req/s.
  const resultOf = (key) => results.find((r) => r.key === key);
  for (const r of results) r.ratio = +(r.max.req_per_s / resultOf('baseline').max.req_per_s).toFixed(2);
  const row = (r, p, first) =>
    `| ${r.name} | ${first} | ${p.p50_ms} | ${p.p99_ms} | ${p.non_2xx} | ${p.callbacks}/${p.accepted} | ${p.sustained_per_s} | ${ms(p.drain_after_stop_ms)} | ${ms(p.e2e_p50_ms)} | ${ms(p.e2e_p99_ms)} |`;
  const head = (first, extra = '') => [
    `| target | ${first} | p50 ms | p99 ms | non-2xx | callbacks/accepted | called back/s | last callback after stop, ms | e2e p50 ms | e2e p99 ms |${extra}`,
    `|---|---|---|---|---|---|---|---|---|---|${extra ? '---|' : ''}`,
  ];
  const appHalf = resultOf('app').half;
  const againstWhole = floorMultiples(resultOf('app').max, resultOf('whole').max);
  // What the ratio target (bench/README.md, "Where the embedded pipeline stands") asks of the app on this machine,
  // as a share of what the whole floor carried: the bare request's cost and the cost of a durable delivery's writes
  // and waits differ from machine to machine, so one ratio to the baseline asks more of the app on some than others.
  const targetOfWhole = (TARGET_RATIO * resultOf('baseline').max.req_per_s) / resultOf('whole').max.req_per_s;
  const runsOf = (r) => (r.max.runs_req_per_s.length > 1 ? ` (runs ${r.max.runs_req_per_s.join(', ')})` : '');
  console.log(
    [
      `\n${CONNECTIONS} connections, ${DURATION} s per phase after a ${WARMUP} s warm-up, each run a fresh process, in the order ${order.join(', ')}; ${canPin ? 'server on core 0, load on core 1' : 'no taskset: shared cores'}`,
      "\n**As fast as the connections go** (mean of the runs; p99, drain and e2e p99 from the worst run; CPU per delivery: the server process's user + system time from the phase's start to its last callback, over deliveries called back)",
      ...head('req/s', ' CPU ms/delivery |'),
      ...results.map((r) => `${row(r, r.max, `${r.max.req_per_s}${runsOf(r)} (**${r.ratio}** × baseline)`)} ${r.max.cpu_ms_per_delivery} |`),
      `\n**The app against the whole floor** (their runs interleaved; from the sums): ${times(againstWhole.req_per_s)} its req/s, ${times(againstWhole.cpu_ms_per_delivery)} its CPU per delivery (main thread ${times(againstWhole.main_thread_ms_per_delivery)}, other threads ${times(againstWhole.other_threads_ms_per_delivery)}); on this machine ${TARGET_RATIO} × the baseline's req/s is ${times(targetOfWhole)} the whole floor's`,
      RATE ? `\n**Open loop at ${RATE} req/s**` : "\n**Open loop at half of each target's own maximum (the lower of req/s and called back/s above)**",
      ...head('req/s offered', ' CPU ms/delivery (× at full rate) |'),
      ...results.map((r) => `${row(r, r.half, r.half.rate)} ${r.half.cpu_ms_per_delivery} (${(r.half.cpu_ms_per_delivery / r.max.cpu_ms_per_delivery).toFixed(1)} ×) |`),
      `(open loop: latency from when each request was due; the generator itself sent late by p99 ${results.map((r) => `${r.half.lag_p99_ms} ms`).join(' / ')})`,
      '',
      ...sqlite.map(
        (f, i) =>
          `app run ${i + 1}: CPU per delivery ${runs.app[i].main_thread_ms_per_delivery} ms on the main thread, ${runs.app[i].other_threads_ms_per_delivery} ms on others (log fsyncs, checkpoints, GC helpers); ${f.commits} SQLite commits, ${f.writes_per_commit} writes per commit, ${f.commit_seconds} s in COMMIT, ${f.wal_syncs} WAL fsyncs off the event loop (${f.wal_sync_seconds} s); ${loopLine(runs.app[i].loop)}`,
      ),
      `app at ${appHalf.rate}/s: main thread busy ${Math.round(100 * appHalf.main_thread_busy)} % of the phase; its threads put on a CPU ${appHalf.on_cpu_per_delivery} times per delivery; ${loopLine(appHalf.loop)}`,
    ].join('\n'),
  );
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ connections: CONNECTIONS, duration_s: DURATION, taskset: canPin, order, runs, results, app_against_whole_floor: againstWhole, target_ratio: TARGET_RATIO, target_ratio_of_whole_floor: +targetOfWhole.toFixed(2) }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
