// `npm run bench`: every bench in turn, each in a process of its own, with the arguments given after `--`
// (each script reads the ones it knows): the pipeline against its baselines (embedded profile), the scale
// profile with two instances, then the realtime gateway: 10,000 clients on 2,000 channels while the same
// instance takes webhooks at half the embedded app's maximum measured by the pipeline bench (--clients,
// --channels, --webhook-rate override).
// Usage: npm run build && npm run bench [-- --duration 15 --rate 150 --no-scale --prof ...]
'use strict';
require('./usage').exitWithUsageOnHelp(__filename);
const { spawnSync } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const args = process.argv.slice(2);
const given = (name) => args.includes(`--${name}`);

/** Half of the embedded app's maximum req/s in the pipeline run that just ended (its open-loop rate). */
function halfOfAppMaximum() {
  const dir = join(__dirname, 'results');
  const latest = readdirSync(dir).filter((name) => /^pipeline-.*\.json$/.test(name)).sort().at(-1);
  const { results } = JSON.parse(readFileSync(join(dir, latest), 'utf8'));
  return Math.round(results.find((r) => r.key === 'app').max.req_per_s / 2);
}

const scripts = ['pipeline.js', ...(given('no-scale') ? [] : ['scale.js']), 'realtime-load.js'];
for (const script of scripts) {
  let extra = [];
  if (script === 'realtime-load.js') {
    extra = [
      ...(given('clients') ? [] : ['--clients', '10000']),
      ...(given('channels') ? [] : ['--channels', '2000']),
      ...(given('webhook-rate') ? [] : ['--webhook-rate', String(halfOfAppMaximum())]),
    ];
  }
  console.log(`\n## bench/${script} ${extra.join(' ')}`);
  const { status } = spawnSync(process.execPath, [join(__dirname, script), ...args, ...extra], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`bench/${script} failed (exit ${status})`);
    process.exit(status ?? 1);
  }
}
