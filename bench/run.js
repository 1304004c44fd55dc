// `npm run bench`: every bench in turn, each in a process of its own, with the arguments given after `--`
// (each script reads the ones it knows): the pipeline against its baselines (embedded profile), the scale
// profile with two instances, then the realtime gateway.
// Usage: npm run build && npm run bench [-- --duration 15 --rate 150 --no-scale --prof ...]
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const args = process.argv.slice(2);
const scripts = ['pipeline.js', ...(args.includes('--no-scale') ? [] : ['scale.js']), 'realtime-load.js'];
for (const script of scripts) {
  console.log(`\n## bench/${script}`);
  const { status } = spawnSync(process.execPath, [join(__dirname, script), ...args], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`bench/${script} failed (exit ${status})`);
    process.exit(status ?? 1);
  }
}
