// The practical ceiling for the ingest benchmark: a bare node:http server that does only the size limit, the
// HMAC check over the raw bytes, JSON.parse, a 200, and a fire-and-forget callback over a keep-alive agent.
'use strict';
const { Buffer } = require('node:buffer');
const { createHmac, timingSafeEqual } = require('node:crypto');
const http = require('node:http');

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
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      const callback = http.request(body.callback_url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } });
      callback.on('error', () => undefined);
      callback.end(JSON.stringify({ data: body.ai_response.data, task_id: `task_${body.channel_id}` }));
    });
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
