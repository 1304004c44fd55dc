// `--help` (or `-h`) for every bench script: prints the comment the script opens with (what it measures, and its
// usage line) and exits, instead of starting a run that takes minutes.
'use strict';
const { readFileSync } = require('node:fs');
const { relative } = require('node:path');

/** Call first thing with the script's own __filename. */
function exitWithUsageOnHelp(filename) {
  if (!process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) return;
  const lines = readFileSync(filename, 'utf8').split('\n');
  const header = lines.slice(0, lines.findIndex((line) => !line.startsWith('//'))).map((line) => line.replace(/^\/\/ ?/, ''));
  console.log(`bench/${relative(__dirname, filename)}\n\n${header.join('\n')}`);
  process.exit(0);
}

module.exports = { exitWithUsageOnHelp };
