// The practical ceiling for the ingest benchmark: a bare node:http server that does only the size limit, the
// HMAC check over the raw bytes, JSON.parse, a 200, and a fire-and-forget callback over a keep-alive agent.
// With STORE=<file> it is the ceiling for a server that keeps what it answers 200 to: each delivery is inserted
// into SQLite (deduplicated by channel id) through the app's own group-commit driver, connection settings and
// checkpoint thread (built, from dist/), and answered only once that commit is durable (SYNC=NORMAL: no fsync). No
// framework, no query builder, no processing: what durable intake alone costs on this machine.
// With SCHEMA_FROM=<a database the app made> as well (the whole floor), it makes every write a delivery makes in the
// app, on the app's own tables and indexes (copied from that file), with the same statements in the same order and
// the same waits: the delivery's row, durable before the 200; the processor's row (the content under its slug, or the
// entities), durable before the callback; the callback's answer awaited; then the completion (status and result)
// and the attempt's row. Still no framework, query builder, queue, validation, events or logging: what the app's
// promises cost when nothing else is done.
'use strict';
const { Buffer } = require('node:buffer');
const { createHmac, timingSafeEqual } = require('node:crypto');
const http = require('node:http');
const { performance } = require('node:perf_hooks');

/**
 * Opens a floor's file as the app opens its own: the app's connection settings (page cache, memory map, in-memory
 * statement journals, incremental vacuum, foreign keys) and its checkpoints on a thread of their own rather than inside
 * a COMMIT on the event loop. With SQLite's defaults instead, the whole floor spent more of its main thread in SQLite
 * per delivery than the app did (bench/HISTORY.md, "Figures of 2026-12-07, 05:24–06:35").
 */
function openDatabase(file) {
  const Database = require('better-sqlite3');
  const { configureSqlite } = require('../dist/database/sqlite-settings');
  const db = new Database(file);
  // The app's default busy timeout (DATABASE_BUSY_TIMEOUT_MS); the thread ends with the process.
  configureSqlite(db, file, { busyTimeoutMs: 5000 });
  return db;
}

/** Resolves once the delivery's row is committed (and on disk unless SYNC=NORMAL), as the app's intake does. */
function durableStore(file, fsyncs) {
  const { GroupCommitSqliteDriver } = require('../dist/database/group-commit-sqlite.driver');
  const db = openDatabase(file);
  db.exec('create table if not exists deliveries (id integer primary key, dedupe_key text not null unique, payload text not null, created_at integer not null)');
  const driver = new GroupCommitSqliteDriver(db, { durableFile: fsyncs ? file : undefined });
  const sql = 'insert into deliveries (dedupe_key, payload, created_at) values (?, ?, ?) on conflict do nothing';
  return async (key, payload) => {
    const connection = await driver.acquireConnection();
    await connection.executeQuery({ sql, parameters: [key, payload, Date.now()] });
  };
}
/** The whole floor: every statement of an app's delivery, on the app's schema, with the app's waits (see above). */
function wholePipeline(file, fsyncs, schemaFrom) {
  const Database = require('better-sqlite3');
  const { GroupCommitSqliteDriver } = require('../dist/database/group-commit-sqlite.driver');
  const { newRowId } = require('../dist/database/row-id');
  const source = new Database(schemaFrom, { readonly: true });
  const schema = source.prepare("select sql from sqlite_master where sql is not null and name not like 'sqlite_%' and name not like 'kysely_%'").all();
  source.close();
  const db = openDatabase(file);
  for (const { sql } of schema) db.exec(sql);
  const driver = new GroupCommitSqliteDriver(db, { durableFile: fsyncs ? file : undefined });
  const run = async (sql, parameters) => (await driver.acquireConnection()).executeQuery({ sql, parameters });
  const columns = (names) => `(${names.join(', ')}) values (${names.map(() => '?').join(', ')})`;
  const insertDelivery = `insert into webhook_deliveries ${columns(['id', 'dedupe_key', 'channel_id', 'type', 'event', 'status', 'attempts', 'next_run_at', 'lease_until', 'lease_token', 'payload', 'signature_scheme', 'signature_secret_index', 'created_at', 'updated_at'])} on conflict (dedupe_key) do nothing`;
  const insertContent = `insert into contents ${columns(['id', 'channel_id', 'title', 'body', 'slug', 'created_at'])} on conflict do nothing`;
  const entityColumns = ['id', 'channel_id', 'name', 'name_key', 'type', 'position', 'created_at'];
  const insertEntities = (count) =>
    `insert into entities (${entityColumns.join(', ')}) values ${Array.from({ length: count }, () => `(${entityColumns.map(() => '?').join(', ')})`).join(', ')} on conflict (channel_id, name_key) do nothing`;
  const complete = 'update webhook_deliveries set status = ?, completed_at = ?, updated_at = ?, result = ?, callback_status = ?, lease_until = ?, lease_token = ? where id = ? and lease_token = ?';
  const insertAttempt = `insert into callback_attempts ${columns(['id', 'delivery_id', 'kind', 'attempt', 'status_code', 'duration_ms', 'outcome', 'error', 'created_at'])}`;
  return {
    /** Stores the delivery, already leased to the run that follows at once; resolves once that is durable. */
    async intake(body, raw) {
      const now = Date.now();
      const id = newRowId(now);
      const lease = newRowId(now);
      await run(insertDelivery, [id, `${body.channel_id}:${body.type}`, body.channel_id, body.type, body.event, 'processing', 1, now, now + 300_000, lease, raw, 'raw', 0, now, now]);
      return { id, lease };
    },
    /** The processor's rows, durable before the callback; the callback's answer; then the completion and the attempt. */
    async process(body, { id, lease }) {
      const data = body.ai_response.data;
      const now = Date.now();
      if (body.event === 'content_ready') {
        const slug = `${String(data.title).toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${String(body.channel_id).slice(0, 8)}`;
        await run(insertContent, [newRowId(now), body.channel_id, data.title, data.body, slug, now]);
      } else {
        const values = data.entities.flatMap((entity, position) => [newRowId(now), body.channel_id, entity.name, entity.name.toLowerCase(), entity.type, position, now]);
        await run(insertEntities(data.entities.length), values);
      }
      const result = JSON.stringify({ data, task_id: `task_${body.channel_id}` });
      const started = performance.now();
      const status = await postAndWait(body.callback_url, result);
      const done = Date.now();
      await Promise.all([
        run(complete, ['completed', done, done, result, 'delivered', null, null, id, lease]),
        run(insertAttempt, [newRowId(done), id, 'result', 1, status, Math.round(performance.now() - started), 'delivered', null, done]),
      ]);
    },
  };
}

function postAndWait(url, payload) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject);
    request.end(payload);
  });
}

// The bench stops this server with SIGTERM; exiting from a handler (not by the signal's default) lets V8 write the
// CPU profile that `node bench/pipeline.js --prof` asks of the whole floor's run.
process.on('SIGTERM', () => process.exit(0));

const fsyncs = process.env.SYNC !== 'NORMAL';
const whole = process.env.STORE && process.env.SCHEMA_FROM ? wholePipeline(process.env.STORE, fsyncs, process.env.SCHEMA_FROM) : undefined;
const store = process.env.STORE && !whole ? durableStore(process.env.STORE, fsyncs) : undefined;

const SECRET = process.env.SECRET;
const LIMIT = 1024 * 1024;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

http
  .createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > LIMIT) {
        res.writeHead(413).end();
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const given = Buffer.from(String(req.headers['mr-signature'] || ''), 'hex');
      const expected = createHmac('sha256', SECRET).update(raw).digest();
      if (given.length !== 32 || !timingSafeEqual(given, expected)) return res.writeHead(401).end();
      let body;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return res.writeHead(400).end();
      }
      if (whole) {
        whole.intake(body, raw.toString('utf8')).then(
          (row) => {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
            whole.process(body, row).catch((error) => console.error(error));
          },
          () => res.writeHead(503).end(),
        );
      } else if (store) {
        // Stored or not answered 200, as the app: a failed commit answers 503 and sends no callback.
        store(String(body.channel_id), raw.toString('utf8')).then(
          () => answer(res, body),
          () => res.writeHead(503).end(),
        );
      } else answer(res, body);
    });
  })
  .listen(Number(process.env.PORT), '127.0.0.1');

function answer(res, body) {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
  const callback = http.request(body.callback_url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } });
  callback.on('error', () => undefined);
  callback.end(JSON.stringify({ data: body.ai_response.data, task_id: `task_${body.channel_id}` }));
}
