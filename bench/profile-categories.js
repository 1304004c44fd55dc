// Where a delivery's CPU goes: sorts the samples of a V8 CPU profile (node --cpu-prof) of the app into the
// pipeline's parts. Used by `node bench/pipeline.js --prof`, also on the whole floor's server (bench/baseline-server.js:
// its SQLite, callback and node:http parts fall in the same rows; its HMAC and JSON.parse, in its own file, under
// "other" and V8's native code); also runs on its own:
//   node bench/profile-categories.js <file.cpuprofile> [--us-per-delivery N] [--from-ms A --to-ms B]
// A sample counts for the first part, in the order below, that any frame of its stack belongs to: the SQLite
// statements a processor runs count as SQLite, the log line intake writes as logging, and what is left of a webhook's
// request (Node's parser, Fastify, Nest) as the intake's HTTP and framework share. Startup (module loading) is left out.
'use strict';
const { readFileSync } = require('node:fs');

const PARTS = [
  ['SQLite: statements, COMMIT, the group-commit driver', /group-commit-sqlite\.driver|better-sqlite3/],
  ['logging (pino, Nest Logger)', /\/pino\/|nestjs-pino|services\/logger\.service|logging\.module/],
  ['metrics (prom-client)', /prom-client|metrics\.service/],
  ['signature: HMAC over the raw bytes', /webhook-signature/],
  ['callback: URL check, node:http client, answer', /modelriver-callback\.client|callback-url\.policy|callback-sender|node:_http_client|node:_http_agent|request-filtering-agent/],
  ['Kysely: query objects, compile, executor', /\/kysely\/|prepared-query/],
  ['intake: parse, validate, store', /delivery-payload|webhook-payload|webhook-ingest|secure-json-parse|dedupe-key|intake-admission|row-id/],
  ['processing: event bus, processors', /event-handlers\/|eventemitter2|@nestjs\/event-emitter/],
  ['queue: claims, runs, leases, repositories', /dist\/jobs\/|delivery-state\.repository|deliveries\.repository|callback-attempts\.repository/],
  ['realtime: channel state, socket.io emits', /dist\/realtime\//],
  ['intake: Fastify and Nest (routing, hooks, guard, reply)', /@nestjs|\/fastify\/|find-my-way|engine\.io|socket\.io|webhook-route|app\.setup|request-validation|security-headers|webhooks\.controller/],
  ['intake: node:http server (parse, respond)', /node:_http_server|node:_http_incoming|node:_http_common|node:_http_outgoing/],
];
const STARTUP = /Module\._compile|executeUserEntryPoint/;
const SOCKETS = /stream_base_commons|internal\/streams\/|node:net|^writev |^writeBuffer |^writeUtf8String /;

/**
 * Shares of the profile's busy time (idle left out), per part. `window`: only samples taken between `fromMs` and
 * `toMs` after the profile started (the process's start, near enough), e.g. a bench phase.
 */
function categorize(profile, window) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const parts = new Map();
  let busy = 0;
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at / 1000 < window.fromMs || at / 1000 > window.toMs)) return;
    const leaf = byId.get(id).callFrame;
    if (leaf.functionName === '(idle)') return;
    const stack = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur).callFrame;
      stack.push(`${frame.functionName} ${frame.url}`);
    }
    if (stack.some((frame) => STARTUP.test(frame))) return;
    busy += delta;
    let part;
    if (leaf.functionName === '(garbage collector)') part = 'GC on the main thread';
    else if (leaf.functionName === '(program)') part = 'V8 and native code outside JavaScript';
    else {
      const index = Math.min(...stack.map((frame) => PARTS.findIndex(([, pattern]) => pattern.test(frame))).filter((i) => i >= 0));
      if (Number.isFinite(index)) part = PARTS[index][0];
      else if (stack.some((frame) => SOCKETS.test(frame))) part = 'sockets and streams (either direction)';
      else if (stack.some((frame) => /process\/task_queues|runMicrotasks/.test(frame))) part = 'promise and tick machinery';
      else part = 'other';
    }
    parts.set(part, (parts.get(part) ?? 0) + delta);
  });
  return [...parts].map(([part, time]) => ({ part, share: busy > 0 ? time / busy : 0 })).sort((a, b) => b.share - a.share);
}

/** A markdown table; with `usPerDelivery` (the main thread's CPU per delivery), each part in µs too. */
function table(parts, usPerDelivery) {
  const rows = parts.map(({ part, share }) => `| ${part} | ${(100 * share).toFixed(1)} % |${usPerDelivery ? ` ${Math.round(share * usPerDelivery)} |` : ''}`);
  return [`| part | share of the main thread's busy time |${usPerDelivery ? ' µs per delivery |' : ''}`, `|---|---|${usPerDelivery ? '---|' : ''}`, ...rows].join('\n');
}

module.exports = { categorize, table };

if (require.main === module) {
  require('./usage').exitWithUsageOnHelp(__filename);
  const value = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/profile-categories.js <file.cpuprofile> [--us-per-delivery N] [--from-ms A --to-ms B]');
    process.exit(2);
  }
  const from = value('from-ms');
  const parts = categorize(JSON.parse(readFileSync(file, 'utf8')), from === undefined ? undefined : { fromMs: from, toMs: value('to-ms') ?? Infinity });
  console.log(table(parts, value('us-per-delivery')));
}
