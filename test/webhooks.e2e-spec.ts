import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { CallbackSink } from './helpers/callback-sink';
import { lockDatabase, startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, envelope, Scheme, signedHeaders, TEST_OLD_SECRET, TEST_SECRET } from './helpers/sign-webhook';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(app: TestApp, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', body, headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function sendSigned(app: TestApp, payload: unknown, scheme: Scheme = 'raw', secret?: string): Promise<Answer> {
  // Under `json` the signed bytes are the re-serialised body; send different bytes so only `json` can match.
  const body = scheme === 'json' ? JSON.stringify(payload, null, 2) : JSON.stringify(payload);
  return post(app, body, signedHeaders(body, scheme, secret));
}

const rowCount = (app: TestApp): number =>
  (app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n;

const deliveryRow = (app: TestApp, id: unknown) =>
  app.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as Record<string, unknown> | undefined;

describe('POST /webhooks/modelriver (embedded profile)', () => {
  let app: TestApp;
  let sink: CallbackSink;

  beforeAll(async () => {
    sink = await new CallbackSink().start();
    app = await startTestApp({ WEBHOOK_MAX_BODY_BYTES: '65536', DATABASE_BUSY_TIMEOUT_MS: '100' });
  });
  afterAll(async () => {
    await app.close();
    await sink.close();
  });

  describe('200: accepted, stored, processed', () => {
    it.each<Scheme>(['raw', 'ts_raw', 'ts_data', 'json'])('accepts a delivery signed with %s', async (scheme) => {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const body = scheme === 'ts_data' ? envelope(payload) : payload;
      const answer = await sendSigned(app, body, scheme);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ received: true, delivery_id: expect.any(String), duplicate: false });
      const row = await waitFor('completion', () => {
        const r = deliveryRow(app, answer.body.delivery_id);
        return r?.status === 'completed' ? r : undefined;
      });
      expect(row).toMatchObject({
        channel_id: payload.channel_id,
        type: 'task.ai_generated',
        event: 'content_ready',
        signature_scheme: scheme,
        signature_secret_index: 0,
        attempts: 1,
        callback_status: 'delivered',
      });
      expect(sink.for(payload.channel_id as string)).toHaveLength(1);
    });

    it('accepts the rotated-out secret and records which one matched', async () => {
      const answer = await sendSigned(app, aiGeneratedPayload(), 'raw', TEST_OLD_SECRET);
      expect(answer.status).toBe(200);
      expect(deliveryRow(app, answer.body.delivery_id)).toMatchObject({ signature_secret_index: 1 });
    });

    it('answers a redelivery with the original id and stores nothing new', async () => {
      const payload = aiGeneratedPayload();
      const first = await sendSigned(app, payload);
      const before = rowCount(app);
      const second = await sendSigned(app, payload, 'ts_raw');
      expect(second).toMatchObject({
        status: 200,
        body: { received: true, delivery_id: first.body.delivery_id, duplicate: true },
      });
      expect(rowCount(app)).toBe(before);
    });

    it('keeps the raw payload, unknown fields included', async () => {
      const payload = { ...aiGeneratedPayload(), added_by_modelriver_later: { x: [1, 2] } };
      const answer = await sendSigned(app, payload);
      const stored = JSON.parse(deliveryRow(app, answer.body.delivery_id)!.payload as string) as Record<string, unknown>;
      expect(stored.added_by_modelriver_later).toEqual({ x: [1, 2] });
    });

    it('20 concurrent identical deliveries: all 2xx, exactly one new, one row', async () => {
      const payload = aiGeneratedPayload();
      const body = JSON.stringify(payload);
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => post(app, body, signedHeaders(body))),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.body.delivery_id)).size).toBe(1);
      const rows = app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE channel_id = ?').get(payload.channel_id);
      expect(rows).toEqual({ n: 1 });
    });

    it('__proto__ and constructor keys reach no prototype and cause no 5xx', async () => {
      const channelId = 'proto-test-1';
      const body =
        `{"type":"task.ai_generated","event":"content_ready","channel_id":"${channelId}",` +
        `"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},` +
        `"ai_response":{"data":{"__proto__":{"isAdmin":true},"title":"t"}},` +
        `"callback_url":"https://api.modelriver.com/v1/callback/${channelId}"}`;
      const answer = await post(app, body, signedHeaders(body));
      expect(answer.status).toBe(200);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      const unsigned = await post(app, body, { 'content-type': 'application/json' });
      expect(unsigned.status).toBe(401);
    });
  });

  describe('202: authentic but invalid is quarantined, not processed', () => {
    it('stores the delivery as quarantined with its validation errors', async () => {
      const payload: Record<string, unknown> = { ...aiGeneratedPayload(), callback_url: undefined, event: 42 };
      const answer = await sendSigned(app, payload);
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ received: true, quarantined: true, delivery_id: expect.any(String) });
      expect(answer.body.errors).toEqual(expect.arrayContaining([expect.stringContaining('event'), expect.stringContaining('callback_url')]));
      await new Promise((resolve) => setTimeout(resolve, 150));
      const row = deliveryRow(app, answer.body.delivery_id)!;
      expect(row).toMatchObject({ status: 'quarantined', attempts: 0, channel_id: payload.channel_id });
      expect(JSON.parse(row.validation_errors as string)).toEqual(answer.body.errors);
    });

    it('quarantines authentic JSON that is not an object', async () => {
      const answer = await sendSigned(app, [1, 2, 3]);
      expect(answer).toMatchObject({ status: 202, body: { errors: ['payload must be a JSON object'] } });
    });
  });

  describe('4xx: nothing is stored', () => {
    let before: number;
    beforeEach(() => {
      before = rowCount(app);
    });
    afterEach(() => {
      expect(rowCount(app)).toBe(before);
    });

    it('400 for a validly signed body that is not JSON', async () => {
      const body = '{"type": "task.ai_generated",';
      const answer = await post(app, body, signedHeaders(body));
      expect(answer).toMatchObject({ status: 400, body: { message: 'request body is not valid JSON' } });
    });

    it.each<[string, Record<string, string>, string]>([
      ['no signature', {}, 'missing webhook signature'],
      ['a malformed signature', { 'mr-signature': 'sha256=abc' }, 'malformed webhook signature'],
      ['a wrong signature', { 'mr-signature': 'a'.repeat(64) }, 'webhook signature does not match'],
    ])('401 for %s', async (_name, headers, message) => {
      const answer = await post(app, JSON.stringify(aiGeneratedPayload()), { 'content-type': 'application/json', ...headers });
      expect(answer).toMatchObject({ status: 401, body: { statusCode: 401, message } });
    });

    it('401, not 400, for malformed JSON with a bad signature (signature first)', async () => {
      const answer = await post(app, '{not json', { 'content-type': 'application/json', 'mr-signature': 'b'.repeat(64) });
      expect(answer.status).toBe(401);
    });

    it('401 for a body changed after signing', async () => {
      const body = JSON.stringify(aiGeneratedPayload());
      const answer = await post(app, body.replace('Hello', 'Jello'), signedHeaders(body));
      expect(answer.status).toBe(401);
    });

    it('413 for a body over the limit, even when correctly signed and before the content type', async () => {
      const big = JSON.stringify({ ...aiGeneratedPayload(), pad: 'x'.repeat(70_000) });
      expect((await post(app, big, signedHeaders(big))).status).toBe(413);
      expect((await post(app, big, { 'content-type': 'text/plain' })).status).toBe(413);
    });

    it('413 for an oversize chunked body without content-length', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${app.url}/webhooks/modelriver`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'mr-signature': 'c'.repeat(64) },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        for (let i = 0; i < 10; i++) req.write('x'.repeat(10_000));
        req.end();
      });
      expect(status).toBe(413);
    });

    it.each([
      ['text/plain', {}],
      ['application/x-www-form-urlencoded', {}],
      ['application/json; charset=utf-16', {}],
      ['application/json', { 'content-encoding': 'gzip' }],
    ])('415 for content type %s %j', async (contentType, extra) => {
      const body = JSON.stringify(aiGeneratedPayload());
      const answer = await post(app, body, { ...signedHeaders(body), 'content-type': contentType, ...extra });
      expect(answer.status).toBe(415);
    });
  });

  describe('503: storage unavailable', () => {
    it('answers 503 with Retry-After while the database is locked, then recovers without a restart', async () => {
      const lock = await lockDatabase(app.dbFile);
      const payload = aiGeneratedPayload();
      try {
        const answer = await sendSigned(app, payload);
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('5');
      } finally {
        lock.release();
      }
      const retried = await sendSigned(app, payload);
      expect(retried).toMatchObject({ status: 200, body: { duplicate: false } });
    });
  });

  describe('durability before the 2xx (SQLITE_SYNCHRONOUS=FULL)', () => {
    let durableApp: TestApp;
    beforeAll(async () => {
      durableApp = await startTestApp({ SQLITE_SYNCHRONOUS: 'FULL' });
    });
    afterAll(() => durableApp.close());

    it('answers only once the WAL fsync that covers the row has finished, and then processes it once', async () => {
      // Hold every fsync of the write-ahead log until released (the driver calls through the module object).
      const fs = jest.requireActual<typeof import('node:fs')>('node:fs');
      const realFsync = fs.fsync;
      const held: Array<() => void> = [];
      let holding = true;
      const spy = jest.spyOn(fs, 'fsync').mockImplementation(((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
        if (holding) held.push(() => realFsync(fd, callback));
        else realFsync(fd, callback);
      }));
      try {
        const payload = aiGeneratedPayload({ callbackBase: sink.url });
        const channelId = String(payload.channel_id);
        let answered = false;
        const answer = sendSigned(durableApp, payload).finally(() => (answered = true));
        await waitFor('the WAL fsync to start', () => (held.length > 0 ? true : undefined));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(answered).toBe(false); // committed perhaps, but not yet known to be on disk: no 2xx
        expect(sink.for(channelId)).toHaveLength(0); // and no callback either
        holding = false;
        held.splice(0).forEach((release) => release());
        expect(await answer).toMatchObject({ status: 200, body: { duplicate: false } });
        await waitFor('the callback', () => (sink.for(channelId).length > 0 ? true : undefined));
        const { delivery_id: deliveryId } = (await answer).body;
        const row = await waitFor('completion', () => {
          const r = deliveryRow(durableApp, deliveryId);
          return r?.status === 'completed' ? r : undefined;
        });
        expect(row).toMatchObject({ attempts: 1, callback_status: 'delivered' });
      } finally {
        holding = false;
        held.splice(0).forEach((release) => release());
        spy.mockRestore();
      }
    });
  });
});

describe('timestamped signatures: mr-timestamp and WEBHOOK_TIMESTAMP_TOLERANCE_S', () => {
  const hmac = (message: string) => createHmac('sha256', TEST_SECRET).update(message).digest('hex');

  it('accepts mr-signature + mr-timestamp over "{timestamp}." + the raw body (ts_raw under the mr- headers)', async () => {
    const app = await startTestApp();
    try {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const body = JSON.stringify(aiGeneratedPayload());
      const answer = await post(app, body, { 'content-type': 'application/json', 'mr-signature': hmac(`${timestamp}.${body}`), 'mr-timestamp': timestamp });
      expect(answer).toMatchObject({ status: 200, body: { received: true, duplicate: false } });
      expect(deliveryRow(app, answer.body.delivery_id)).toMatchObject({ signature_scheme: 'ts_raw' });
    } finally {
      await app.close();
    }
  });

  it('with a tolerance, refuses an authentic but old timestamped delivery (401) and stores nothing', async () => {
    const app = await startTestApp({ WEBHOOK_TIMESTAMP_TOLERANCE_S: '300' });
    try {
      const body = JSON.stringify(aiGeneratedPayload());
      const old = String(Math.floor(Date.now() / 1000) - 3600);
      const stale = await post(app, body, { 'content-type': 'application/json', 'x-modelriver-signature': hmac(`${old}.${body}`), 'x-modelriver-timestamp': old });
      expect(stale).toMatchObject({ status: 401, body: { message: 'webhook timestamp is outside WEBHOOK_TIMESTAMP_TOLERANCE_S' } });
      expect(rowCount(app)).toBe(0);
      const now = String(Math.floor(Date.now() / 1000));
      const fresh = await post(app, body, { 'content-type': 'application/json', 'x-modelriver-signature': hmac(`${now}.${body}`), 'x-modelriver-timestamp': now });
      expect(fresh.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
