// `npm run bench`: the full pipeline (built app, embedded profile) against a bare node:http baseline, in the
// same run on the same machine. Signed ~1.5 KB task.ai_generated deliveries with unique channel ids (half
// content_ready, half entities_extracted), callbacks to a local sink. Reports ratios, never bare figures alone.
// Usage: npm run build && npm run bench [-- --duration 15 --connections 64]
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { createHmac, randomUUID } = require('node:crypto');
const { mkdirSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { createServer } = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const autocannon = require('autocannon');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DURATION = arg('duration', 15);
const WARMUP = arg('warmup', 3);
const CONNECTIONS = arg('connections', 64);
const SECRET = 'whsec_bench_secret_0123456789abcdef';
const SYNC = process.argv.includes('--normal') ? 'NORMAL' : 'FULL';
const ROOT = join(__dirname, '..');
const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return require('node:os').cpus().length > 1;
  } catch {
    return false;
  }
})();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
};
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** Callbacks arrive here; we note when each channel was called back. */
function startSink() {
  const received = new Map();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const channel = decodeURIComponent(req.url.split('/').pop());
      if (!received.has(channel)) received.set(channel, Date.now());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}` })));
}

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

function launch(command, env) {
  const args = hasTaskset ? ['-c', '0', process.execPath, ...command] : command;
  const child = spawn(hasTaskset ? 'taskset' : process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

async function waitUp(port) {
  for (let i = 0; i < 200; i++) {
    try {
      await new Promise((resolve, reject) => http.get(`http://127.0.0.1:${port}/`, (res) => (res.resume(), resolve())).on('error', reject));
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('target did not start');
}

async function measure(name, port, sink) {
  const sent = new Map();
  let n = 0;
  const run = (duration, record) =>
    new Promise((resolve, reject) => {
      const instance = autocannon(
        {
          url: `http://127.0.0.1:${port}/webhooks/modelriver`,
          connections: CONNECTIONS,
          duration,
          requests: [
            {
              method: 'POST',
              setupRequest: (request) => {
                const p = payload(sink.url, n++);
                if (record) sent.set(p.channelId, Date.now());
                return { ...request, body: p.body, headers: { 'content-type': 'application/json', 'mr-signature': p.signature } };
              },
            },
          ],
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      );
      autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
    });
  await run(WARMUP, false);
  await sleep(1000);
  sink.received.clear();
  const result = await run(DURATION, true);
  const stoppedAt = Date.now();
  const accepted = result['2xx'];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && [...sent.keys()].filter((c) => sink.received.has(c)).length < accepted) await sleep(50);
  const called = [...sent.keys()].filter((c) => sink.received.has(c));
  const lastCallback = Math.max(...called.map((c) => sink.received.get(c)));
  const endToEnd = called.map((c) => sink.received.get(c) - sent.get(c));
  return {
    name,
    req_per_s: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non_2xx: result.non2xx + result.errors + result.timeouts,
    accepted,
    callbacks: called.length,
    drain_after_stop_ms: Math.max(0, lastCallback - stoppedAt),
    e2e_p50_ms: pct(endToEnd, 50),
    e2e_p99_ms: pct(endToEnd, 99),
  };
}

async function main() {
  if (hasTaskset) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const sink = await startSink();
  const dir = mkdtempSync(join(tmpdir(), 'mr-bench-'));
  const results = [];
  try {
    const basePort = await freePort();
    const baseline = launch(['bench/baseline-server.js'], { PORT: String(basePort), SECRET });
    await waitUp(basePort);
    results.push(await measure('baseline (bare node:http)', basePort, sink));
    baseline.kill('SIGKILL');

    const appPort = await freePort();
    const app = launch(['dist/main.js'], {
      NODE_ENV: 'production',
      PORT: String(appPort),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
      MODELRIVER_API_KEY: 'mr_live_bench_key',
      MODELRIVER_WEBHOOK_SECRET: SECRET,
      REALTIME_TOKEN_SECRET: 'bench_realtime_secret_0123456789abcdef',
      MODELRIVER_SANDBOX: 'false',
      CALLBACK_ALLOW_HTTP: 'true',
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN: '',
      SQLITE_SYNCHRONOUS: SYNC,
    });
    await waitUp(appPort);
    results.push(await measure(`app (embedded profile, SQLITE_SYNCHRONOUS=${SYNC})`, appPort, sink));
    app.kill('SIGTERM');
    await new Promise((r) => app.once('exit', r));
  } finally {
    sink.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const [base, app] = results;
  const ratio = +(app.req_per_s / base.req_per_s).toFixed(2);
  const rows = results.map((r) => `| ${r.name} | ${r.req_per_s} | ${r.p50_ms} | ${r.p99_ms} | ${r.non_2xx} | ${r.callbacks}/${r.accepted} | ${r.drain_after_stop_ms} | ${r.e2e_p50_ms} | ${r.e2e_p99_ms} |`);
  console.log(
    [
      `\n${CONNECTIONS} connections, ${DURATION} s after a ${WARMUP} s warm-up; ${hasTaskset ? 'server on core 0, load on core 1' : 'no taskset: shared cores'}`,
      '| target | req/s | p50 ms | p99 ms | non-2xx | callbacks/accepted | drain after stop ms | e2e p50 ms | e2e p99 ms |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
      `\napp / baseline req/s: **${ratio}**`,
    ].join('\n'),
  );
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ connections: CONNECTIONS, duration_s: DURATION, taskset: hasTaskset, ratio, results }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
