// Compares the CPU per delivery of two builds of the app (embedded profile), both running at the same time: this
// checkout's dist/ and another git ref's (built in a temporary worktree) or another built checkout. Run one after
// the other, two builds differ by less than a noisy machine drifts between runs; run side by side on one core
// each (swapped every round), they share every drift and only their own difference is left.
// Usage: npm run build && node bench/compare.js [--ref HEAD~1 | --other DIR] [--rate 600 --rounds 4 --duration 10]
//        [--env KEY=VALUE,… --ref-env KEY=VALUE,…]: settings for this checkout's app / the other's (`--other .` with
//        either compares two settings of one build). [--ref-new-connections]: the other's webhooks each come on a
//        new connection, as from a proxy without keep-alive to the app (paced rates only: --rate > 0).
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { APP_ENV, canPin, cpuMs, freePort, numberOption: arg, option, startSink, waitUp } = require('./common');
const { phase } = require('./phases');

const ROOT = join(__dirname, '..');
const RATE = arg('rate', 600); // per build; 0: as fast as the connections go
const ROUNDS = arg('rounds', 4);
const DURATION = arg('duration', 10);
const WARMUP = arg('warmup', 5);
const CONNECTIONS = arg('connections', 64);

/** `--env A=1,B=2` as an object; the value may contain `=`. */
function envOption(name) {
  const given = option(name, '');
  return Object.fromEntries(
    given
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`--${name}: expected KEY=VALUE, got ${pair}`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );
}
const THIS_ENV = envOption('env');
const REF_ENV = envOption('ref-env');
const REF_NEW_CONNECTIONS = process.argv.includes('--ref-new-connections');
if (REF_NEW_CONNECTIONS && !RATE) throw new Error('--ref-new-connections needs a paced rate (--rate > 0): the full-rate load keeps its connections');

/** The other build: a checkout given as is, or `--ref` checked out and built in a temporary worktree. */
function otherBuild(dir) {
  const given = option('other', undefined);
  if (given) return { root: resolve(given), label: given, cleanup: () => undefined };
  const ref = option('ref', 'HEAD');
  const worktree = join(dir, 'ref');
  execFileSync('git', ['worktree', 'add', '--detach', worktree, ref], { cwd: ROOT, stdio: 'ignore' });
  const cleanup = () => execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: ROOT, stdio: 'ignore' });
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(worktree, 'node_modules'));
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: worktree, stdio: 'inherit' });
  } catch (error) {
    cleanup();
    throw error;
  }
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT }).toString().trim();
  return { root: worktree, label: commit.startsWith(ref) ? commit : `${ref} (${commit})`, cleanup };
}

function start(root, core, databaseFile, port, settings) {
  const main = join(root, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build that checkout first`);
  const env = { ...process.env, ...APP_ENV, ...settings, DATABASE_URL: `sqlite:${databaseFile}`, SQLITE_SYNCHRONOUS: 'FULL', PORT: String(port) };
  const [command, args] = canPin ? ['taskset', ['-c', String(core), process.execPath, main]] : [process.execPath, [main]];
  return spawn(command, args, { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
}

const stop = (child) =>
  new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', done);
    child.kill('SIGTERM');
  });

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mr-compare-'));
  const other = otherBuild(dir);
  const withSettings = (label, settings) => label + Object.entries(settings).map(([key, value]) => ` ${key}=${value}`).join('');
  const builds = [
    { key: 'this', root: ROOT, settings: THIS_ENV, label: withSettings('this checkout', THIS_ENV) },
    { key: 'ref', root: other.root, settings: REF_ENV, label: withSettings(other.label, REF_ENV) + (REF_NEW_CONNECTIONS ? ' (a connection per webhook)' : ''), newConnections: REF_NEW_CONNECTIONS },
  ];
  const sink = await startSink();
  const rounds = [];
  const load = { duration: DURATION, rate: RATE, connections: CONNECTIONS };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const apps = [];
      try {
        for (const [index, build] of builds.entries()) {
          const port = await freePort();
          const core = (index + round) % 2;
          apps.push({ build, core, port, child: start(build.root, core, join(dir, `${build.key}-${round}.db`), port, build.settings) });
        }
        await Promise.all(apps.map((app) => waitUp(app.port)));
        const loadOf = (app) => ({ ...load, newConnections: app.build.newConnections });
        await Promise.all(apps.map((app) => phase(app.port, sink, { ...loadOf(app), duration: WARMUP })));
        const before = apps.map((app) => cpuMs(app.child.pid));
        const results = await Promise.all(apps.map((app) => phase(app.port, sink, loadOf(app))));
        const figures = apps.map((app, i) => ({
          build: app.build.key,
          core: canPin ? app.core : null,
          req_per_s: results[i].req_per_s,
          accepted: results[i].accepted,
          callbacks: results[i].callbacks,
          p99_ms: results[i].p99_ms,
          cpu_ms_per_delivery: +((cpuMs(app.child.pid) - before[i]) / Math.max(1, results[i].callbacks)).toFixed(3),
        }));
        rounds.push(figures);
        const line = figures.map((f) => `${f.build}${f.core === null ? '' : ` on core ${f.core}`}: ${f.cpu_ms_per_delivery} ms per delivery (${f.callbacks}/${f.accepted} called back, ${f.req_per_s} req/s, p99 ${f.p99_ms} ms)`);
        console.log(`round ${round + 1}: ${line.join('; ')}`);
      } finally {
        await Promise.all(apps.map((app) => stop(app.child)));
      }
    }
  } finally {
    sink.server.close();
    other.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }

  const cpu = (key) => rounds.map((figures) => figures.find((f) => f.build === key).cpu_ms_per_delivery);
  const ratios = rounds.map((_, i) => cpu('this')[i] / cpu('ref')[i]);
  const summary = {
    rate: RATE || `as fast as ${CONNECTIONS} connections go`,
    rounds: ROUNDS,
    duration_s: DURATION,
    pinned: canPin,
    this: builds[0].label,
    ref: builds[1].label,
    cpu_ms_per_delivery: { this: +mean(cpu('this')).toFixed(3), ref: +mean(cpu('ref')).toFixed(3) },
    this_over_ref: { per_round: ratios.map((r) => +r.toFixed(3)), mean: +mean(ratios).toFixed(3) },
  };
  console.log(
    `\nCPU per delivery at ${RATE ? `${RATE} webhooks/s` : `full rate (${CONNECTIONS} connections)`} each, ${ROUNDS} rounds of ${DURATION} s` +
      `${canPin ? ', one core each, swapped every round' : ', cores shared (no taskset)'}:` +
      `\n  ${builds[0].label} ${summary.cpu_ms_per_delivery.this} ms, ${builds[1].label} ${summary.cpu_ms_per_delivery.ref} ms;` +
      ` this / ref per round ${summary.this_over_ref.per_round.join(', ')}, mean ${summary.this_over_ref.mean}`,
  );
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ summary, rounds }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
