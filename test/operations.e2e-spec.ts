import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely } from 'kysely';
import { DatabaseHandles } from '../src/database/database.factory';
import { DATABASE_HANDLES } from '../src/database/database.module';
import { DeliveriesRepository } from '../src/deliveries/deliveries.repository';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, tempDir, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const ADMIN = 'admin-token-for-e2e-0123456789abcdef';
type Json = Record<string, unknown>;

async function call(app: TestApp, path: string, init: RequestInit & { token?: string } = {}) {
  const headers: Record<string, string> = { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) };
  const response = await fetch(`${app.url}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  const text = await response.text();
  return { status: response.status, body: (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as Json };
}
const admin = (app: TestApp, path: string, init: RequestInit = {}) => call(app, path, { ...init, token: ADMIN });

async function send(app: TestApp, payload: unknown) {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  return { status: response.status, body: (await response.json()) as Json };
}

const settled = (app: TestApp, id: unknown) =>
  waitFor(`delivery ${String(id)} to settle`, () => {
    const row = app.db.prepare('SELECT status, callback_status FROM webhook_deliveries WHERE id = ?').get(id) as Json | undefined;
    return ['completed', 'dead'].includes(row?.status as string) ? row : undefined;
  });

describe('admin API', () => {
  it('does not exist (404) without ADMIN_TOKEN', async () => {
    const app = await startTestApp();
    try {
      for (const path of ['/admin', '/admin/deliveries', '/admin/deliveries/stats', '/admin/deliveries/0b1f0e2a-4d8c-4b7e-9a1d-2f3c4b5a6d7e']) {
        expect((await admin(app, path)).status).toBe(404);
      }
      expect((await admin(app, '/admin/deliveries/0b1f0e2a-4d8c-4b7e-9a1d-2f3c4b5a6d7e/replay', { method: 'POST' })).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  describe('with ADMIN_TOKEN', () => {
    let app: TestApp;
    let sink: CallbackSink;
    beforeAll(async () => {
      sink = await new CallbackSink().start();
      app = await startTestApp({ ADMIN_TOKEN: ADMIN, CALLBACK_BUDGET_MS: '3000', CALLBACK_TIMEOUT_MS: '300', CALLBACK_RETRY_BASE_MS: '20' });
    });
    afterAll(async () => {
      await app.close();
      await sink.close();
    });

    it.each([
      ['no token', undefined],
      ['a wrong token', 'wrong-token-000000000000000000000'],
    ])('answers 401 to %s, and changes nothing', async (_name, token) => {
      for (const path of ['/admin/deliveries', '/admin/deliveries/stats']) expect((await call(app, path, { token })).status).toBe(401);
      const replay = await call(app, '/admin/deliveries/0b1f0e2a-4d8c-4b7e-9a1d-2f3c4b5a6d7e/replay', { method: 'POST', token });
      expect(replay.status).toBe(401);
      expect(app.db.prepare('SELECT COUNT(*) AS n FROM admin_audit').get()).toEqual({ n: 0 });
    });

    it('lists with filters and cursor pagination, newest first', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await send(app, aiGeneratedPayload({ callbackBase: sink.url, event: 'entities_extracted', data: { entities: [] } }))).body.delivery_id as string);
      await Promise.all(ids.map((id) => settled(app, id)));
      const first = await admin(app, '/admin/deliveries?event=entities_extracted&status=completed&limit=2');
      expect(first.status).toBe(200);
      const page1 = first.body.items as Json[];
      expect(page1.map((item) => item.id)).toEqual([ids[4], ids[3]]);
      const second = await admin(app, `/admin/deliveries?event=entities_extracted&status=completed&limit=2&cursor=${String(first.body.next_cursor)}`);
      expect((second.body.items as Json[]).map((item) => item.id)).toEqual([ids[2], ids[1]]);
      const since = (await admin(app, `/admin/deliveries?since=${new Date(Date.now() + 60_000).toISOString()}`)).body;
      expect(since.items).toEqual([]);
      expect((await admin(app, '/admin/deliveries?status=bogus')).status).toBe(400);
      expect((await admin(app, '/admin/deliveries?limit=1000')).status).toBe(400);
      expect((await admin(app, '/admin/deliveries?cursor=not!valid')).status).toBe(400);
    });

    it('searches by channel id or delivery id, and says why a delivery needs an operator and whether replay can work', async () => {
      const dead = aiGeneratedPayload({ callbackBase: sink.url });
      sink.script(dead.channel_id as string, 400, 200);
      const deadId = (await send(app, dead)).body.delivery_id as string;
      const invalid = aiGeneratedPayload({ callbackBase: sink.url });
      delete invalid.callback_url;
      const quarantinedId = (await send(app, invalid)).body.delivery_id as string;
      await settled(app, deadId);

      const byChannel = await admin(app, `/admin/deliveries?search=${String(dead.channel_id)}`);
      expect(byChannel.body.items).toEqual([
        expect.objectContaining({ id: deadId, status: 'dead', reason: 'callback failed after 1 attempt: callback answered 400', replayable: true }),
      ]);
      expect(byChannel.body.items).toEqual([expect.not.objectContaining({ payload: expect.anything() })]);
      const byId = await admin(app, `/admin/deliveries?search=${quarantinedId}`);
      expect(byId.body.items).toEqual([
        expect.objectContaining({
          id: quarantinedId,
          status: 'quarantined',
          reason: 'callback_url is required',
          replayable: false,
          replay_blocked: 'still invalid: callback_url is required',
        }),
      ]);
      expect((await admin(app, `/admin/deliveries/${quarantinedId}`)).body).toMatchObject({ reason: 'callback_url is required', replayable: false, validation_errors: ['callback_url is required'] });
      expect((await admin(app, '/admin/deliveries?search=nothing-like-this')).body.items).toEqual([]);
      const bad = await admin(app, `/admin/deliveries?search=${encodeURIComponent("x' OR 1=1 --")}`);
      expect(bad).toMatchObject({ status: 400, body: { message: 'search must be a delivery id or a channel id' } });
    });

    it('shows one delivery with payload, result and callback attempts; 404 unknown, 400 malformed id', async () => {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const id = (await send(app, payload)).body.delivery_id as string;
      await settled(app, id);
      const detail = await admin(app, `/admin/deliveries/${id}`);
      expect(detail.body).toMatchObject({
        id,
        status: 'completed',
        payload: { channel_id: payload.channel_id },
        result: { processed: true },
        callback_status: 'delivered',
        callback_attempts: [{ kind: 'result', status_code: 200, outcome: 'delivered' }],
      });
      expect((await admin(app, '/admin/deliveries/0b1f0e2a-4d8c-4b7e-9a1d-2f3c4b5a6d7e')).status).toBe(404);
      expect((await admin(app, '/admin/deliveries/not-a-uuid')).status).toBe(400);
    });

    it('counts the failed callback attempts of a delivery still in flight, and only of such', async () => {
      const retried = aiGeneratedPayload({ callbackBase: sink.url });
      const channel = retried.channel_id as string;
      // Two refusals, then answers that never come (each attempt ends at CALLBACK_TIMEOUT_MS): in flight for a while.
      sink.script(channel, 503, 503, ...Array.from({ length: 10 }, () => 'hang' as const));
      const id = (await send(app, retried)).body.delivery_id as string;
      const recorded = () => (app.db.prepare('SELECT COUNT(*) AS n FROM callback_attempts WHERE delivery_id = ?').get(id) as { n: number }).n;
      await waitFor('two failed attempts recorded', () => (recorded() >= 2 ? true : undefined));
      const page = await admin(app, `/admin/deliveries?search=${channel}`);
      const [item] = page.body.items as Json[];
      expect(item).toMatchObject({ id, status: 'processing', callback_status: null });
      expect(item.failed_callback_attempts).toBeGreaterThanOrEqual(2);
      expect(item.failed_callback_attempts).toBeLessThanOrEqual(recorded());

      const delivered = aiGeneratedPayload({ callbackBase: sink.url });
      sink.script(delivered.channel_id as string, 503, 200);
      const deliveredId = (await send(app, delivered)).body.delivery_id as string;
      await settled(app, deliveredId);
      const [completed] = (await admin(app, `/admin/deliveries?search=${deliveredId}`)).body.items as Json[];
      expect(completed).toMatchObject({ status: 'completed', callback_status: 'delivered' });
      expect(completed).not.toHaveProperty('failed_callback_attempts');
      await settled(app, id);
    });

    it('a replayed dead delivery in flight again counts its failed attempts, not its delivered error callback', async () => {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const channel = payload.channel_id as string;
      // Rejected (final), the error callback delivered; after the replay, answers that never come.
      sink.script(channel, 400, 200, ...Array.from({ length: 10 }, () => 'hang' as const));
      const id = (await send(app, payload)).body.delivery_id as string;
      expect(await settled(app, id)).toMatchObject({ status: 'dead' });
      const failedRows = () =>
        (app.db.prepare("SELECT COUNT(*) AS n FROM callback_attempts WHERE delivery_id = ? AND outcome <> 'delivered'").get(id) as { n: number }).n;
      expect(failedRows()).toBe(1);
      expect((await admin(app, `/admin/deliveries/${id}/replay`, { method: 'POST' })).status).toBe(202);
      await waitFor('the replay to call back', () => (sink.for(channel).length >= 3 ? true : undefined));
      const before = failedRows();
      const [item] = (await admin(app, `/admin/deliveries?search=${id}`)).body.items as Json[];
      const after = failedRows();
      expect(item).toMatchObject({ id, callback_status: null });
      expect(item.failed_callback_attempts).toBeGreaterThanOrEqual(before);
      expect(item.failed_callback_attempts).toBeLessThanOrEqual(after);
      await settled(app, id);
    });

    it('replays a dead delivery after the cause is fixed: processed and called back, audited', async () => {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      sink.script(payload.channel_id as string, 400, 200); // rejected, then the error callback
      const id = (await send(app, payload)).body.delivery_id as string;
      expect(await settled(app, id)).toMatchObject({ status: 'dead' });
      const replay = await admin(app, `/admin/deliveries/${id}/replay`, { method: 'POST' });
      expect(replay).toMatchObject({ status: 202, body: { delivery_id: id, status: 'queued', replayed_from: 'dead' } });
      expect(await settled(app, id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
      expect(sink.for(payload.channel_id as string).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed', 'result']);
      expect((await admin(app, `/admin/deliveries/${id}`)).body.audit).toEqual([expect.objectContaining({ action: 'replay', from_status: 'dead' })]);
      // Completed deliveries are not replayed.
      expect((await admin(app, `/admin/deliveries/${id}/replay`, { method: 'POST' })).status).toBe(409);
    });

    it('refuses to replay a quarantined delivery that is still invalid (422), changing nothing', async () => {
      const answer = await send(app, { ...aiGeneratedPayload(), callback_url: undefined });
      expect(answer.status).toBe(202);
      const replay = await admin(app, `/admin/deliveries/${String(answer.body.delivery_id)}/replay`, { method: 'POST' });
      expect(replay.status).toBe(422);
      expect(app.db.prepare('SELECT status FROM webhook_deliveries WHERE id = ?').get(answer.body.delivery_id)).toEqual({ status: 'quarantined' });
    });

    it('the counts /metrics and the dashboard poll read index ranges, never the whole deliveries table', async () => {
      // Every query they run, as SQLite would execute it: a full scan would read every kept delivery (days of
      // them, payloads included) on each scrape and each 5 s dashboard refresh.
      const repository: unknown = app.app.get(DeliveriesRepository);
      const executor = (repository as { db: Kysely<unknown> }).db.getExecutor();
      const seen = jest.spyOn(executor, 'executeQuery');
      try {
        expect((await admin(app, '/admin/deliveries/stats')).status).toBe(200);
        expect((await call(app, '/metrics')).status).toBe(200);
        const plans = seen.mock.calls
          .map(([query]) => query)
          .filter((query) => query.sql.includes('webhook_deliveries'))
          .map((query) => ({
            sql: query.sql,
            plan: (app.db.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...(query.parameters as unknown[])) as { detail: string }[]).map((row) => row.detail),
          }));
        expect(plans.length).toBeGreaterThanOrEqual(3);
        // Each check carries its query, so a failure names the statement that scans.
        for (const { sql, plan } of plans) {
          expect({ sql, searchesAnIndex: plan.some((step) => /^SEARCH webhook_deliveries USING (COVERING )?INDEX /.test(step)) }).toEqual({ sql, searchesAnIndex: true });
          expect({ sql, scans: plan.filter((step) => step.startsWith('SCAN webhook_deliveries')) }).toEqual({ sql, scans: [] });
        }
      } finally {
        seen.mockRestore();
      }
    });

    it('serves the dashboard page, its script and its stylesheet without a token (the data needs one)', async () => {
      const page = await call(app, '/admin');
      expect(page.status).toBe(200);
      expect(page.body as unknown as string).toContain('<script src="/admin/admin.js">');
      for (const [path, type] of [['/admin/admin.js', 'text/javascript'], ['/admin/admin.css', 'text/css']]) {
        const response = await fetch(`${app.url}${path}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toContain(type);
      }
    });

    it('a page filtered on a rare event reads at most 10,000 deliveries, and its next_cursor leads on to the match', async () => {
      // 10,010 older deliveries of a common event, and before them the one with the rare event.
      const base = Date.parse('2020-01-01T00:00:00Z');
      const idOf = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;
      const row = (n: number) => ({
        id: idOf(n),
        dedupe_key: `${idOf(n)}:task.ai_generated`,
        channel_id: idOf(n),
        type: 'task.ai_generated',
        event: n === 0 ? 'rare_event' : 'content_ready',
        status: 'completed' as const,
        attempts: 1,
        next_run_at: base + n,
        payload: '{}',
        signature_scheme: 'raw',
        signature_secret_index: 0,
        created_at: base + n,
        updated_at: base + n,
      });
      const { db } = app.app.get<DatabaseHandles>(DATABASE_HANDLES);
      for (let from = 0; from <= 10_010; from += 1000) {
        await db.insertInto('webhook_deliveries').values(Array.from({ length: Math.min(1000, 10_011 - from) }, (_, k) => row(from + k))).execute();
      }

      const first = await admin(app, '/admin/deliveries?event=rare_event');
      expect(first.status).toBe(200);
      expect(first.body.items).toEqual([]);
      expect(typeof first.body.next_cursor).toBe('string');
      const second = await admin(app, `/admin/deliveries?event=rare_event&cursor=${String(first.body.next_cursor)}`);
      expect((second.body.items as Json[]).map((item) => item.id)).toEqual([idOf(0)]);
      expect(second.body.next_cursor).toBeNull();
      // A filter that matches fills its page from the newest deliveries, as before.
      const common = await admin(app, '/admin/deliveries?event=content_ready&limit=3');
      expect((common.body.items as Json[]).length).toBe(3);
    });
  });

  it('replays a quarantined delivery once a configuration change makes it valid → completed', async () => {
    const dir = tempDir('mr-replay-');
    const env = { ADMIN_TOKEN: ADMIN, DATABASE_URL: `sqlite:${join(dir, 'replay.db')}` };
    const sink = await new CallbackSink().start();
    try {
      const before = await startTestApp(env);
      const payload: Record<string, unknown> = { ...aiGeneratedPayload({ callbackBase: sink.url }), type: 'task.ai_refined' };
      const answer = await send(before, payload);
      expect(answer).toMatchObject({ status: 202, body: { quarantined: true, errors: ['type task.ai_refined is not accepted (WEBHOOK_EVENT_TYPES)'] } });
      await before.close();

      // The operator accepts the new type and restarts on the same database.
      const after = await startTestApp({ ...env, WEBHOOK_EVENT_TYPES: 'task.ai_generated,task.completed,task.ai_refined' });
      try {
        const replay = await admin(after, `/admin/deliveries/${String(answer.body.delivery_id)}/replay`, { method: 'POST' });
        expect(replay).toMatchObject({ status: 202, body: { replayed_from: 'quarantined' } });
        expect(await settled(after, answer.body.delivery_id)).toMatchObject({ status: 'completed' });
        expect(after.db.prepare('SELECT dedupe_key FROM webhook_deliveries WHERE id = ?').get(answer.body.delivery_id)).toEqual({
          dedupe_key: `${String(payload.channel_id)}:task.ai_refined`,
        });
      } finally {
        await after.close();
      }
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('admin replay under concurrency', () => {
  const statusesOf = (answers: { status: number }[]) => answers.map((answer) => answer.status).sort();

  it('five concurrent replays of a dead delivery: one is queued and audited, the rest get 409; one run, one callback', async () => {
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ ADMIN_TOKEN: ADMIN, CALLBACK_BUDGET_MS: '3000', CALLBACK_TIMEOUT_MS: '300', CALLBACK_RETRY_BASE_MS: '20' });
    try {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const channel = payload.channel_id as string;
      sink.script(channel, 400, 200); // rejected, then the error callback
      const id = (await send(app, payload)).body.delivery_id as string;
      expect(await settled(app, id)).toMatchObject({ status: 'dead' });
      const replays = await Promise.all(Array.from({ length: 5 }, () => admin(app, `/admin/deliveries/${id}/replay`, { method: 'POST' })));
      expect(statusesOf(replays)).toEqual([202, 409, 409, 409, 409]);
      expect(await settled(app, id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sink.for(channel).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed', 'result']);
      expect(app.db.prepare('SELECT COUNT(*) AS n FROM admin_audit WHERE delivery_id = ?').get(id)).toEqual({ n: 1 });
    } finally {
      await app.close();
      await sink.close();
    }
  });

  it('replays of a quarantined delivery racing the same webhook redelivered: one delivery runs once, no 5xx', async () => {
    const dir = tempDir('mr-replay-race-');
    const env = { ADMIN_TOKEN: ADMIN, DATABASE_URL: `sqlite:${join(dir, 'race.db')}` };
    const sink = await new CallbackSink().start();
    try {
      // Quarantined while task.ai_generated was not accepted; then the operator accepts it and restarts.
      const before = await startTestApp({ ...env, WEBHOOK_EVENT_TYPES: 'task.completed' });
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const channel = payload.channel_id as string;
      const quarantined = await send(before, payload);
      expect(quarantined).toMatchObject({ status: 202, body: { quarantined: true } });
      await before.close();
      const after = await startTestApp(env);
      try {
        const id = String(quarantined.body.delivery_id);
        const [webhook, ...replays] = await Promise.all([
          send(after, payload),
          ...Array.from({ length: 4 }, () => admin(after, `/admin/deliveries/${id}/replay`, { method: 'POST' })),
        ]);
        expect([webhook, ...replays].filter((answer) => answer.status >= 500)).toEqual([]);
        expect(webhook.status).toBe(200);
        const replayed = replays.filter((answer) => answer.status === 202);
        expect(replays.filter((answer) => answer.status !== 202).map((answer) => answer.status)).toEqual(Array(4 - replayed.length).fill(409));
        // Exactly one of them made the accepted delivery: the webhook (new), or one replay (the webhook then a duplicate of it).
        expect(replayed.length + (webhook.body.duplicate === false ? 1 : 0)).toBe(1);
        const accepted = after.db.prepare("SELECT id FROM webhook_deliveries WHERE channel_id = ? AND status <> 'quarantined'").all(channel) as { id: string }[];
        expect(accepted).toHaveLength(1);
        expect(await settled(after, accepted[0].id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(sink.for(channel)).toHaveLength(1);
        expect(after.db.prepare('SELECT attempts FROM webhook_deliveries WHERE id = ?').get(accepted[0].id)).toEqual({ attempts: 1 });
      } finally {
        await after.close();
      }
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GET /metrics', () => {
  it('moves as expected across accepted, duplicate, 401, quarantined and a callback failure', async () => {
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ CALLBACK_BUDGET_MS: '3000', CALLBACK_TIMEOUT_MS: '300' });
    const value = (text: string, metric: string) => {
      const line = text.split('\n').find((l) => l.startsWith(metric + ' ') || l.startsWith(metric + '{') && l.slice(0, l.lastIndexOf(' ')) === metric);
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    try {
      const scrape = async () => (await call(app, '/metrics')).body as unknown as string;
      const before = await scrape();
      const ok = aiGeneratedPayload({ callbackBase: sink.url });
      const failing = aiGeneratedPayload({ callbackBase: sink.url });
      sink.script(failing.channel_id as string, 400, 200);
      await send(app, ok);
      await send(app, ok);
      await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: { 'content-type': 'application/json', 'mr-signature': 'f'.repeat(64) }, body: '{}' });
      await send(app, { ...aiGeneratedPayload(), event: undefined });
      const failingId = (await send(app, failing)).body.delivery_id;
      await settled(app, failingId);
      const after = await scrape();
      const delta = (metric: string) => value(after, metric) - value(before, metric);
      expect(delta('modelriver_webhooks_total{outcome="accepted",reason=""}')).toBe(2);
      expect(delta('modelriver_webhooks_total{outcome="duplicate",reason=""}')).toBe(1);
      expect(delta('modelriver_webhooks_total{outcome="rejected",reason="signature"}')).toBe(1);
      expect(delta('modelriver_webhooks_total{outcome="quarantined",reason=""}')).toBe(1);
      expect(delta('modelriver_webhook_signature_scheme_total{scheme="raw"}')).toBe(4);
      expect(delta('modelriver_callbacks_total{kind="result",outcome="final",status="400"}')).toBe(1);
      expect(delta('modelriver_callbacks_total{kind="error",outcome="delivered",status="200"}')).toBe(1);
      expect(value(after, 'modelriver_deliveries{status="dead"}')).toBe(1);
      expect(value(after, 'modelriver_deliveries{status="quarantined"}')).toBe(1);
      expect(after).toContain('modelriver_processing_duration_seconds_count{event="content_ready",outcome="ok"}');
      expect(after).toContain('modelriver_queue_depth 0');
      // SQLite group commit: every commit carried writes. Tests run SQLITE_SYNCHRONOUS=NORMAL, so no WAL fsyncs
      // (FULL's fsync-before-answer is proven in group-commit-sqlite.driver.spec.ts).
      const commits = delta('modelriver_sqlite_commits_total');
      expect(commits).toBeGreaterThan(0);
      expect(delta('modelriver_sqlite_committed_writes_total')).toBeGreaterThanOrEqual(commits);
      expect(after).toContain('modelriver_sqlite_wal_syncs_total 0');
      // The log reaches the file through the checkpoint thread, which has not failed.
      const copied = async () => value(await scrape(), 'modelriver_sqlite_checkpoint_pages_total');
      await waitFor('a background checkpoint', async () => ((await copied()) > 0 ? true : undefined));
      expect(value(after, 'modelriver_sqlite_checkpoint_failures_total')).toBe(0);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});

describe('GET /docs-json', () => {
  it('documents every HTTP route with its status codes', async () => {
    const app = await startTestApp({ ADMIN_TOKEN: ADMIN });
    try {
      const doc = (await call(app, '/docs-json')).body as unknown as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
      const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
      expect(codes('/webhooks/modelriver', 'post')).toEqual(['200', '202', '400', '401', '413', '415', '503']);
      expect(codes('/ai/generate', 'post')).toEqual(expect.arrayContaining(['200', '400', '401', '429', '502', '504']));
      expect(codes('/ai/requests/{channel_id}', 'get')).toEqual(expect.arrayContaining(['200', '404']));
      expect(codes('/api/v1/ai/reconnect', 'post')).toEqual(expect.arrayContaining(['200', '400', '404']));
      expect(codes('/admin/deliveries/{id}/replay', 'post')).toEqual(expect.arrayContaining(['202', '401', '404', '409', '422']));
      expect(codes('/health/ready', 'get')).toEqual(expect.arrayContaining(['200', '503']));
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/admin/deliveries', '/admin/deliveries/stats', '/admin/deliveries/{id}', '/health/live']));
      expect((await call(app, '/docs')).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('security headers', () => {
  it('every response carries helmet headers, with a CSP that allows scripts only from this origin', async () => {
    const app = await startTestApp({ ADMIN_TOKEN: ADMIN });
    try {
      const body = JSON.stringify(aiGeneratedPayload());
      const responses = await Promise.all([
        fetch(`${app.url}/`),
        fetch(`${app.url}/admin`),
        fetch(`${app.url}/health/live`),
        fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body }),
        fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
        fetch(`${app.url}/no-such-route`),
      ]);
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 401, 404]);
      for (const response of responses) {
        const csp = response.headers.get('content-security-policy') ?? '';
        expect(csp).toContain("script-src 'self'");
        expect(csp).toContain("connect-src 'self' ws: wss:");
        expect(csp).not.toContain('upgrade-insecure-requests');
        expect(response.headers.get('x-content-type-options')).toBe('nosniff');
        expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      }
    } finally {
      await app.close();
    }
  });
});
