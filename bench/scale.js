// The scale profile as operators run it: two instances of the built app on one PostgreSQL + Redis, callbacks to a
// local sink. Two phases:
//   1. paced: RATE deliveries/s for DURATION s (open loop, spread over both instances); CPU per delivery of each
//      process group (the app instances together, PostgreSQL's server and backends, Redis), from /proc, with each
//      group's idle rate (measured just before) subtracted; and how long after the last send the last callback came.
//   2. burst: BURST s at CONNECTIONS connections (half on each instance, closed loop): what intake answered
//      (200, 503 + Retry-After, anything else), whether every delivery answered 200 was called back exactly once,
//      and how long after the burst the last callback came.
// Usage: npm run build && node bench/scale.js [--rate 150 --duration 10 --burst 10 --connections 64 --warmup 60]
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { spawn } = require('node:child_process');
const { mkdirSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { join } = require('node:path');
const { performance } = require('node:perf_hooks');
const { APP_ENV, CpuMeter, freePort, numberOption: arg, payload, pct, pidsOf, postWebhook, readMetrics, scaleBackends, sleep, startSink, waitUp, wakeUpCost } = require('./common');
const { pace } = require('./pace');

const RATE = arg('rate', 150);
const DURATION = arg('duration', 10);
const BURST = arg('burst', 10);
const CONNECTIONS = arg('connections', 64);
// V8 keeps optimising for about a minute at 150/s: a shorter warm-up measures its compiler (on helper threads and
// in unoptimised code) as per-delivery cost. Measured on this 2-core VM with the same build, app CPU per delivery
// after a warm-up of 3 s at 50/s: 3.6–3.7 ms; 20 s at 150/s: 2.9 ms; 60 s at 150/s: 2.5–2.6 ms, with 27 functions
// still compiled in the 10 s measured (~1,000 after the short warm-up).
const WARMUP = arg('warmup', 60);
// --prof: write a V8 CPU profile of each instance to bench/results/ (as bench/pipeline.js does).
const PROFILE = process.argv.includes('--prof');
const IDLE_S = 3;
const ROOT = join(__dirname, '..');

let sequence = 0;

/** Sends one signed delivery; resolves with the HTTP status (0 on a network error) and the Retry-After header. */
async function post(agent, port, sink, sent) {
  const p = payload(sink.url, sequence++);
  sent.set(p.channelId, Date.now());
  const { status, retryAfter } = await postWebhook(agent, port, p);
  return { channelId: p.channelId, status, retryAfter };
}

/** Waits (bounded) until every accepted channel was called back; returns the time of the last callback. */
async function drained(sink, accepted, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && [...accepted].some((c) => !sink.received.has(c))) await sleep(50);
  const missing = [...accepted].filter((c) => !sink.received.has(c)).length;
  const last = [...accepted].reduce((max, c) => Math.max(max, sink.received.get(c) ?? 0), 0);
  return { missing, last };
}

/** Phase 2: a pause, the burst, then the wait for its callbacks; what it reports, and the deliveries it accepted. */
async function measuredBurst(ports, sink) {
  await sleep(1000);
  const big = await burst(ports, sink, BURST);
  const accepted = new Set(big.answers.filter((a) => a.status === 200).map((a) => a.channelId));
  const drain = await drained(sink, accepted);
  return {
    accepted,
    report: {
      duration_s: BURST,
      connections: CONNECTIONS,
      statuses: tally(big.answers),
      accepted_per_s: Math.round(accepted.size / BURST),
      refused_503_without_retry_after: big.answers.filter((a) => a.status === 503 && !a.retryAfter).length,
      last_callback_after_burst_ms: Math.max(0, drain.last - big.endedAt),
      not_called_back: drain.missing,
    },
  };
}

function tally(answers) {
  const statuses = {};
  for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
  return statuses;
}

/** Open loop: `rate`/s for `duration` s, alternating the instances; answers with their statuses. */
async function paced(ports, sink, rate, duration) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const sent = new Map();
  const pending = [];
  const latencies = [];
  await pace(rate, Math.round(rate * duration), (due) => {
    pending.push(
      post(agent, ports[pending.length % ports.length], sink, sent).then((answer) => {
        latencies.push(performance.now() - due);
        return answer;
      }),
    );
  });
  const lastSentAt = Date.now();
  const answers = await Promise.all(pending);
  agent.destroy();
  return { answers, lastSentAt, p99: pct(latencies, 99) };
}

/** Closed loop: CONNECTIONS senders (half per instance) for `duration` s. */
async function burst(ports, sink, duration) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const sent = new Map();
  const answers = [];
  const until = Date.now() + duration * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, n) => {
      while (Date.now() < until) answers.push(await post(agent, ports[n % ports.length], sink, sent));
    }),
  );
  agent.destroy();
  return { answers, endedAt: Date.now() };
}

/** SIGTERM, then SIGKILL if it has not exited within 20 s. */
async function stopGracefully(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Round trips the instances make: PostgreSQL statements from their own counter (/metrics), and Redis commands by
 * name from the server (INFO commandstats, which counts the whole server: on a shared Redis, others' commands count
 * too). Both include the instances' periodic work (admission check, sweeper, lock renewals) besides the deliveries'.
 * INFO commandstats also counts what Lua scripts run inside, so the Redis round trips are the calls only a client
 * makes (scripts, blocking pops, publishes, pings).
 */
const CLIENT_ONLY_COMMANDS = /^(evalsha|evalsha_ro|eval|eval_ro|fcall|bzpopmin|bzpopmax|brpoplpush|blmove|publish|spublish|ping)$/;

async function roundTripCounter(ports, redisUrl) {
  const IORedis = require('ioredis');
  const redis = new IORedis(redisUrl, { connectTimeout: 2000, maxRetriesPerRequest: 1 });
  const read = async () => {
    const statements = { prepared: 0, unprepared: 0 };
    for (const port of ports) {
      const { value } = await readMetrics(port);
      statements.prepared += value('modelriver_postgres_statements_total', 'prepared="true"');
      statements.unprepared += value('modelriver_postgres_statements_total', 'prepared="false"');
    }
    const redisCalls = {};
    for (const line of (await redis.info('commandstats')).split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (match) redisCalls[match[1]] = Number(match[2]);
    }
    return { statements, redis: redisCalls };
  };
  return {
    read,
    /** Per delivery since `before`; `redis` lists every command at 0.05 or more per delivery. */
    perDelivery(before, after, deliveries) {
      const per = (n) => +(n / deliveries).toFixed(2);
      const redis = {};
      let all = 0;
      for (const [name, calls] of Object.entries(after.redis)) {
        const n = calls - (before.redis[name] ?? 0) - (name === 'info' ? 1 : 0);
        all += n;
        if (n / deliveries >= 0.05) redis[name] = per(n);
      }
      const trips = Object.entries(redis).filter(([name]) => CLIENT_ONLY_COMMANDS.test(name));
      const { prepared, unprepared } = after.statements;
      return {
        postgres_statements: per(prepared + unprepared - before.statements.prepared - before.statements.unprepared),
        postgres_prepared_statements: per(prepared - before.statements.prepared),
        redis_round_trips: +trips.reduce((sum, [, n]) => sum + n, 0).toFixed(2),
        redis_round_trips_by_command: Object.fromEntries(trips),
        redis_commands_incl_scripts: per(all),
        redis,
      };
    },
    close: () => redis.disconnect(),
  };
}

/**
 * Per delivery, for each group: the CPU it spent beyond its idle rate, and the times its threads were put on a CPU
 * beyond their idle rate (`slices`: wake-ups, and resumptions after a preemption), over the deliveries handled.
 */
function perDelivery(meters, idle, deliveries) {
  const cpu = {};
  const slices = {};
  for (const [name, { cpuMs, slices: count, elapsedMs }] of Object.entries(meters)) {
    const ratio = elapsedMs / idle[name].elapsedMs;
    // A group that did next to nothing for the deliveries (Redis, when no job passes through it) can read a little
    // under its idle rate: that is 0, not a negative cost.
    cpu[name] = +Math.max(0, (cpuMs - idle[name].cpuMs * ratio) / deliveries).toFixed(2);
    slices[name] = +Math.max(0, (count - idle[name].slices * ratio) / deliveries).toFixed(1);
  }
  return { cpu, slices };
}

async function main() {
  const backends = await scaleBackends();
  if (backends.skipped) {
    console.log(`scale bench skipped: ${backends.skipped}`);
    return;
  }
  // Before anything else runs: what a sleep → wake costs a thread on this machine (common.js wakeUpCost).
  const wake = await wakeUpCost();
  const sink = await startSink();
  const apps = [];
  try {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      apps.push(
        spawn(process.execPath, [...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results')] : []), 'dist/main.js'], {
          cwd: ROOT,
          env: { ...process.env, ...APP_ENV, DATABASE_URL: backends.databaseUrl, REDIS_URL: backends.redisUrl, PORT: String(port) },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
    }
    for (const port of ports) await waitUp(port);
    const groups = { app: () => apps.map((a) => a.pid), postgres: () => pidsOf('postgres'), redis: () => pidsOf('redis-server') };
    const meters = () => Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, new CpuMeter(pids).start()]));
    const stopAll = (running) => Object.fromEntries(Object.entries(running).map(([name, meter]) => [name, meter.stop()]));

    // Warm-up at the paced rate (JIT, pools, prepared paths), then the idle rate of each group.
    const warm = await paced(ports, sink, RATE, WARMUP);
    await drained(sink, new Set(warm.answers.filter((a) => a.status === 200).map((a) => a.channelId)));
    await sleep(1000);
    const idleMeters = meters();
    await sleep(IDLE_S * 1000);
    const idle = stopAll(idleMeters);

    const counter = await roundTripCounter(ports, backends.redisUrl);
    const countsBefore = await counter.read();
    const running = meters();
    const steady = await paced(ports, sink, RATE, DURATION);
    const steadyAccepted = new Set(steady.answers.filter((a) => a.status === 200).map((a) => a.channelId));
    const steadyDrain = await drained(sink, steadyAccepted);
    const { cpu, slices } = perDelivery(stopAll(running), idle, steadyAccepted.size);
    const trips = counter.perDelivery(countsBefore, await counter.read(), steadyAccepted.size);
    counter.close();

    // --burst 0 skips the burst (for profiling the paced phase alone).
    const big = BURST > 0 ? await measuredBurst(ports, sink) : null;
    const doubles = [...(big?.accepted ?? []), ...steadyAccepted].filter((c) => (sink.counts.get(c) ?? 0) > 1).length;

    const result = {
      machine: `${require('node:os').cpus().length} cores, Node ${process.version}`,
      wake_up_cost: wake,
      paced: {
        rate: RATE,
        duration_s: DURATION,
        statuses: tally(steady.answers),
        intake_p99_ms: +steady.p99.toFixed(1),
        cpu_ms_per_delivery: cpu,
        on_cpu_per_delivery: slices,
        round_trips_per_delivery: trips,
        last_callback_after_last_send_ms: Math.max(0, steadyDrain.last - steady.lastSentAt),
        not_called_back: steadyDrain.missing,
      },
      burst: big?.report ?? null,
      doubles,
    };
    console.log(
      [
        `\n**Scale profile, two instances** (${result.machine})`,
        `paced ${RATE}/s for ${DURATION} s: answers ${JSON.stringify(result.paced.statuses)}, intake p99 ${result.paced.intake_p99_ms} ms; ` +
          `CPU per delivery: app ${cpu.app} ms (both instances), PostgreSQL ${cpu.postgres} ms, Redis ${cpu.redis} ms; ` +
          `last callback ${result.paced.last_callback_after_last_send_ms} ms after the last send; not called back ${steadyDrain.missing}`,
        `threads put on a CPU per delivery: app ${slices.app}, PostgreSQL ${slices.postgres}, Redis ${slices.redis}` +
          (wake
            ? `; this machine charges a thread ${wake.per_wake_us} µs of run time per sleep → wake with nothing to do, so wake-ups ` +
              `alone may account for up to ${((slices.app * wake.per_wake_us) / 1000).toFixed(2)} ms of the app's CPU per delivery`
            : ''),
        `round trips per delivery: PostgreSQL ${trips.postgres_statements} statements (${trips.postgres_prepared_statements} prepared); ` +
          `Redis ${trips.redis_round_trips} ` +
          `(${Object.entries(trips.redis_round_trips_by_command).map(([name, n]) => `${name} ${n}`).join(', ')}), ` +
          `running ${trips.redis_commands_incl_scripts} commands with the scripts' own`,
        result.burst
          ? `burst ${BURST} s at ${CONNECTIONS} connections: answers ${JSON.stringify(result.burst.statuses)} (${result.burst.accepted_per_s}/s accepted, ` +
            `${result.burst.refused_503_without_retry_after} × 503 without Retry-After); last callback ${result.burst.last_callback_after_burst_ms} ms after the burst; ` +
            `not called back ${result.burst.not_called_back}; called back twice ${doubles}`
          : `burst skipped (--burst 0); called back twice ${doubles}`,
      ].join('\n'),
    );
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`results: ${file}`);
    return result;
  } finally {
    // A profiled instance must stop on its own to write its profile; otherwise nothing is left to wait for.
    await Promise.all(apps.map((app) => (PROFILE ? stopGracefully(app) : app.kill('SIGKILL'))));
    sink.server.close();
    await backends.drop();
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = { main };
