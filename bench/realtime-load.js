// Realtime load script (not a test): N socket.io clients on M channels of the built app with its sandbox.
// Every client must receive its channel's completed event. Reports counts; fan-out latency from ModelRiver's
// push (the sandbox's Phoenix channel, time read back from its control API) to each client's `ai:response`,
// p50/p99; from our own `ai:processed` (its server `at`) to each client; end-to-end latency (generate →
// ai:processed); memory; the app's event loop meanwhile (longest gap, GC) and its SQLite log's fsyncs, from its
// /metrics; and the CPU the app, the sandbox and this load generator used meanwhile (they share the machine's cores).
// ModelRiver's stand-in (the sandbox) runs in a process of its own, as ModelRiver is remote in production;
// `--in-process-sandbox` runs it inside the app instead (MODELRIVER_SANDBOX=true), sharing its event loop.
// `--webhook-rate N` keeps the same instance busy meanwhile: signed webhooks (with callbacks to a local sink) at
// N/s, paced, from before the clients subscribe until every client has its event, as a busy pipeline would.
// Usage: npm run build && npm run load:realtime [-- --clients 1000 --channels 200 --webhook-rate 0 --in-process-sandbox]
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const http = require('node:http');
const { fork, spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { cpus, tmpdir } = require('node:os');
const { join } = require('node:path');
const { performance } = require('node:perf_hooks');
const { io } = require('socket.io-client');
const { SECRET, cpuMs, eventLoopFigures, eventLoopOver, freePort, numberOption: arg, payload, pct, postWebhook, sleep, sqliteCommitCounters, startSink } = require('./common');
const { pace } = require('./pace');

const CLIENTS = arg('clients', 1000);
const CHANNELS = arg('channels', 200);
const PER_CHANNEL = Math.ceil(CLIENTS / CHANNELS);
const IN_PROCESS_SANDBOX = process.argv.includes('--in-process-sandbox');
const WEBHOOK_RATE = arg('webhook-rate', 0);
const SANDBOX_LATENCY_MS = '2000';

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mr-load-'));
  const [port, sandboxPort] = [await freePort(), await freePort()];
  const credentials = { MODELRIVER_API_KEY: 'mr_test_load_api_key', MODELRIVER_WEBHOOK_SECRET: 'whsec_load_webhook_secret_0123' };
  const sink = WEBHOOK_RATE > 0 ? await startSink() : undefined;
  let sandbox;
  if (!IN_PROCESS_SANDBOX) {
    sandbox = fork(join(__dirname, 'sandbox-server.js'), {
      env: {
        ...process.env,
        PORT: String(sandboxPort),
        WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/modelriver`,
        API_KEY: credentials.MODELRIVER_API_KEY,
        WEBHOOK_SECRET: credentials.MODELRIVER_WEBHOOK_SECRET,
        LATENCY_MS: SANDBOX_LATENCY_MS,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise((resolve, reject) => {
      sandbox.once('message', resolve);
      sandbox.once('exit', () => reject(new Error('sandbox did not start')));
    });
  }
  const app = spawn(process.execPath, ['dist/main.js'], {
    cwd: join(__dirname, '..'),
    env: {
      ...process.env,
      ...credentials,
      // The sandbox signs with the first secret, the background webhooks with the bench's own: both are accepted.
      MODELRIVER_WEBHOOK_SECRET: `${credentials.MODELRIVER_WEBHOOK_SECRET},${SECRET}`,
      PORT: String(port),
      DATABASE_URL: `sqlite:${join(dir, 'load.db')}`,
      LOG_LEVEL: 'warn',
      AI_GENERATE_RATE_LIMIT: '100000',
      SQLITE_SYNCHRONOUS: WEBHOOK_RATE > 0 ? 'FULL' : 'NORMAL',
      ...(IN_PROCESS_SANDBOX
        ? { MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: String(sandboxPort), SANDBOX_LATENCY_MS }
        : {
            MODELRIVER_SANDBOX: 'false',
            MODELRIVER_BASE_URL: `http://127.0.0.1:${sandboxPort}`,
            CALLBACK_ALLOW_HTTP: 'true',
            CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
          }),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        await fetch(`${base}/`);
        break;
      } catch {
        if (i > 200) throw new Error('app did not start');
        await sleep(100);
      }
    }
    const rssBefore = rssKiB(app.pid);
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) {
      const socket = io(`${base}/ai`, { transports: ['websocket'], reconnection: false });
      clients.push(socket);
      if (i % 100 === 99) await sleep(20);
    }
    await Promise.all(clients.map((s) => (s.connected ? null : new Promise((r) => s.once('connect', r)))));
    await sleep(500);
    const rssConnected = rssKiB(app.pid);
    const background = WEBHOOK_RATE > 0 ? startWebhooks(port, sink, WEBHOOK_RATE) : undefined;
    if (background) await sleep(2000); // the pipeline at its pace before the channels start
    const loopBefore = await eventLoopFigures(port);

    const fanout = [];
    const endToEnd = [];
    /** Per channel and upstream status: when each client got the relayed `ai:response`. */
    const relayed = new Map();
    let received = 0;
    let replayed = 0;
    const started = Date.now();
    const cpuBefore = processorTime(app, sandbox);
    const syncsBefore = await sqliteCommitCounters(port);
    for (let c = 0; c < CHANNELS; c++) {
      const t0 = Date.now();
      const answer = await (
        await fetch(`${base}/ai/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: `Load test channel ${c} about Ada Lovelace`, workflow: c % 2 ? 'entity_extractor' : 'content_generator' }),
        })
      ).json();
      for (let k = 0; k < PER_CHANNEL && c * PER_CHANNEL + k < CLIENTS; k++) {
        const socket = clients[c * PER_CHANNEL + k];
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          received++;
        };
        socket.on('ai:response', (event) => {
          if (event.channel_id !== answer.channel_id) return;
          const key = `${answer.channel_id} ${event.status}`;
          if (!relayed.has(key)) relayed.set(key, []);
          relayed.get(key).push({ receivedAt: Date.now(), emittedAt: Date.parse(event.at) });
        });
        socket.on('ai:processed', (event) => {
          if (event.channel_id !== answer.channel_id) return;
          fanout.push(Date.now() - Date.parse(event.at));
          endToEnd.push(Date.now() - t0);
          finish();
        });
        socket.emit('subscribe', { channel_id: answer.channel_id, subscribe_token: answer.realtime.subscribe_token }, (ack) => {
          if (ack.ok && ack.state.status === 'completed') {
            replayed++;
            finish();
          }
        });
      }
    }
    const deadline = Date.now() + 60_000;
    while (received < CLIENTS && Date.now() < deadline) await sleep(100);
    const loop = eventLoopOver(loopBefore, await eventLoopFigures(port));
    const cpu = cpuOver(cpuBefore, processorTime(app, sandbox), (Date.now() - started) / 1000);
    const syncs = syncsOver(syncsBefore, await sqliteCommitCounters(port));
    const rssAfter = rssKiB(app.pid);
    const webhooks = background ? await background.stop() : undefined;
    // When the sandbox pushed each upstream `response` on its Phoenix channel: relay + fan-out latency.
    const upstream = [];
    const relay = [];
    for (const channel of new Set([...relayed.keys()].map((key) => key.split(' ')[0]))) {
      const { pushes = [] } = await (await fetch(`http://127.0.0.1:${sandboxPort}/__sandbox/requests/${encodeURIComponent(channel)}`)).json();
      for (const push of pushes) {
        const pushedAt = Date.parse(push.at);
        for (const { receivedAt, emittedAt } of relayed.get(`${channel} ${push.status}`) ?? []) {
          upstream.push(receivedAt - pushedAt);
          relay.push(emittedAt - pushedAt);
        }
      }
    }
    const report = {
      sandbox: IN_PROCESS_SANDBOX ? 'in the app process' : 'own process',
      clients: CLIENTS,
      channels: CHANNELS,
      received_completed: received,
      live: received - replayed,
      replayed_in_ack: replayed,
      missing: CLIENTS - received,
      upstream_push_to_client_ms: { p50: pct(upstream, 50), p99: pct(upstream, 99), samples: upstream.length },
      upstream_push_to_our_emit_ms: { p50: pct(relay, 50), p99: pct(relay, 99) },
      fanout_ms: { p50: pct(fanout, 50), p99: pct(fanout, 99) },
      generate_to_processed_ms: { p50: pct(endToEnd, 50), p99: pct(endToEnd, 99) },
      seconds: (Date.now() - started) / 1000,
      app_rss_mib: { before: +(rssBefore / 1024).toFixed(1), connected: +(rssConnected / 1024).toFixed(1), after: +(rssAfter / 1024).toFixed(1) },
      kib_per_connection: +((rssConnected - rssBefore) / CLIENTS).toFixed(1),
      // The app's own loop while the channels ran: a stall here delays every relay behind it.
      app_event_loop: loop,
      // Who used the machine's cores meanwhile: the load generator (these clients, the webhook sender and its
      // callback sink) shares them with the app, so a busy generator slows the app's answers too.
      cpu_seconds: cpu,
      // Every answer that stores something waits for the SQLite log's fsync: a slow disk slows all of them.
      sqlite_log_fsyncs: syncs,
      ...(webhooks ? { background_webhooks: webhooks } : {}),
    };
    console.log(JSON.stringify(report, null, 2));
    clients.forEach((s) => s.close());
    process.exitCode = report.missing === 0 ? 0 : 1;
  } finally {
    app.kill('SIGTERM');
    await new Promise((r) => app.once('exit', r));
    sink?.server.close();
    if (sandbox && sandbox.exitCode === null) {
      sandbox.kill('SIGTERM');
      await new Promise((r) => sandbox.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time (user + system, ms) so far of the app, the sandbox (when in its own process), and this load generator. */
function processorTime(app, sandbox) {
  return { app: cpuMs(app.pid), ...(sandbox ? { sandbox: cpuMs(sandbox.pid) } : {}), load_generator: cpuMs(process.pid) };
}

/** Each process's CPU seconds between two readings, and all of them as a share of the machine's cores over `seconds`. */
function cpuOver(before, after, seconds) {
  const used = Object.fromEntries(Object.keys(after).map((key) => [key, +((after[key] - before[key]) / 1000).toFixed(1)]));
  const all = Object.values(used).reduce((sum, value) => sum + value, 0);
  return { ...used, share_of_cores: `${Math.round((100 * all) / (seconds * cpus().length))} %` };
}

/** The app's fsyncs of the SQLite log between two sqliteCommitCounters() readings, and their mean time. */
function syncsOver(before, after) {
  const count = after.walSyncs - before.walSyncs;
  return { count, mean_ms: count > 0 ? +((1000 * (after.walSyncSeconds - before.walSyncSeconds)) / count).toFixed(1) : 0 };
}

/**
 * Signed webhooks at `rate`/s, each sent when due (not when the previous one is answered), over keep-alive
 * sockets. stop() ends the sending and reports what was answered and how many were called back.
 */
function startWebhooks(port, sink, rate) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const statuses = new Map();
  const latencies = [];
  const channels = [];
  const started = performance.now();
  const stopped = { aborted: false };
  const sending = pace(
    rate,
    Infinity,
    (due) => {
      const p = payload(sink.url, channels.length);
      channels.push(p.channelId);
      void postWebhook(agent, port, p).then(({ status, error }) => {
        latencies.push(performance.now() - due);
        const key = error ? `error ${error}` : status;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      });
    },
    stopped,
  );
  return {
    async stop() {
      stopped.aborted = true;
      await sending;
      const seconds = (performance.now() - started) / 1000;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && channels.some((c) => !sink.received.has(c))) await sleep(50);
      agent.destroy();
      return {
        rate,
        seconds: +seconds.toFixed(1),
        sent: channels.length,
        answers: Object.fromEntries(statuses),
        called_back: channels.filter((c) => sink.received.has(c)).length,
        intake_ms: { p50: Math.round(pct(latencies, 50)), p99: Math.round(pct(latencies, 99)) },
      };
    },
  };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
