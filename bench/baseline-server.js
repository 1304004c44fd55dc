// The practical ceiling for the ingest benchmark: a bare node:http server that does only the size limit, the
// HMAC check over the raw bytes, JSON.parse, a 200, and a fire-and-forget callback over a keep-alive agent.
// With STORE=<file> it is the ceiling for a server that keeps what it answers 200 to: each delivery is inserted
// into SQLite (deduplicated by channel id) through the app's own group-commit driver (built, from dist/), and
// answered only once that commit is durable (SYNC=NORMAL: no fsync). No framework, no query builder, no
// processing: what durable intake alone costs on this machine.
'use strict';
const { Buffer } = require('node:buffer');
const { createHmac, timingSafeEqual } = require('node:crypto');
const http = require('node:http');

/** Resolves once the delivery's row is committed (and on disk unless SYNC=NORMAL), as the app's intake does. */
function durableStore(file, fsyncs) {
  const Database = require('better-sqlite3');
  const { GroupCommitSqliteDriver } = require('../dist/database/group-commit-sqlite.driver');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table if not exists deliveries (id integer primary key, dedupe_key text not null unique, payload text not null, created_at integer not null)');
  const driver = new GroupCommitSqliteDriver(db, { durableFile: fsyncs ? file : undefined });
  const sql = 'insert into deliveries (dedupe_key, payload, created_at) values (?, ?, ?) on conflict do nothing';
  return async (key, payload) => {
    const connection = await driver.acquireConnection();
    await connection.executeQuery({ sql, parameters: [key, payload, Date.now()] });
  };
}
const store = process.env.STORE ? durableStore(process.env.STORE, process.env.SYNC !== 'NORMAL') : undefined;

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
      if (store) {
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
