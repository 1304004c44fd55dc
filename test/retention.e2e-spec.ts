import { RetentionService } from '../src/retention/retention.service';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { metricSample } from './helpers/metrics';
import { startSandboxApp } from './helpers/sandbox';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const ADMIN = 'admin-token-for-retention-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Row = Record<string, unknown>;

async function send(app: TestApp, payload: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  expect([200, 202]).toContain(response.status);
  return ((await response.json()) as { delivery_id: string }).delivery_id;
}

/** A delivery whose callback is refused for good (400 first): it ends dead. */
async function sendDead(app: TestApp, sink: CallbackSink): Promise<{ id: string; channelId: string }> {
  const payload = aiGeneratedPayload({ callbackBase: sink.url });
  sink.script(payload.channel_id as string, 400, 200);
  return { id: await send(app, payload), channelId: payload.channel_id as string };
}

const statusOf = (app: TestApp, id: string) => (app.db.prepare('SELECT status FROM webhook_deliveries WHERE id = ?').get(id) as Row | undefined)?.status;
const settled = (app: TestApp, id: string, status: string) => waitFor(`delivery ${id} to be ${status}`, () => (statusOf(app, id) === status ? true : undefined));
const count = (app: TestApp, sql: string, ...params: unknown[]) => (app.db.prepare(sql).get(...params) as { n: number }).n;
const metric = async (app: TestApp, table: string) => (await metricSample(app.url, `modelriver_retention_deleted_rows_total{table="${table}"}`)) ?? 0;

describe('retention', () => {
  describe('DELIVERY_RETENTION=2s, FAILED_RETENTION=1h', () => {
    let app: TestApp;
    let sink: CallbackSink;
    beforeAll(async () => {
      sink = await new CallbackSink().start();
      app = await startTestApp({ DELIVERY_RETENTION: '2s', FAILED_RETENTION: '1h', ADMIN_TOKEN: ADMIN });
    });
    afterAll(async () => {
      await app.close();
      await sink.close();
    });

    it('deletes completed deliveries older than the setting with their attempts and audit rows; keeps younger and failed ones, and business data', async () => {
      const old = aiGeneratedPayload({ callbackBase: sink.url, data: { title: 'Kept content', body: 'The processor wrote this.' } });
      const oldId = await send(app, old);
      const { id: replayedId } = await sendDead(app, sink);
      const { id: deadId } = await sendDead(app, sink);
      const invalid = aiGeneratedPayload({ callbackBase: sink.url });
      delete invalid.type;
      const quarantinedId = await send(app, invalid);
      await settled(app, oldId, 'completed');
      await settled(app, replayedId, 'dead');
      await settled(app, deadId, 'dead');
      const replay = await fetch(`${app.url}/admin/deliveries/${replayedId}/replay`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      expect(replay.status).toBe(202);
      await settled(app, replayedId, 'completed');
      expect(count(app, 'SELECT COUNT(*) AS n FROM admin_audit WHERE delivery_id = ?', replayedId)).toBe(1);
      expect(count(app, 'SELECT COUNT(*) AS n FROM callback_attempts WHERE delivery_id IN (?, ?)', oldId, replayedId)).toBe(4);

      await sleep(2200);
      const young = await send(app, aiGeneratedPayload({ callbackBase: sink.url }));
      await settled(app, young, 'completed');
      await app.app.get(RetentionService).runOnce();

      expect(statusOf(app, oldId)).toBeUndefined();
      expect(statusOf(app, replayedId)).toBeUndefined();
      expect(count(app, 'SELECT COUNT(*) AS n FROM callback_attempts WHERE delivery_id IN (?, ?)', oldId, replayedId)).toBe(0);
      expect(count(app, 'SELECT COUNT(*) AS n FROM admin_audit WHERE delivery_id = ?', replayedId)).toBe(0);
      expect(statusOf(app, young)).toBe('completed');
      expect(statusOf(app, deadId)).toBe('dead');
      expect(statusOf(app, quarantinedId)).toBe('quarantined');
      expect(app.db.prepare('SELECT title FROM contents WHERE channel_id = ?').get(old.channel_id)).toEqual({ title: 'Kept content' });

      expect(await metric(app, 'webhook_deliveries')).toBe(2);
      expect(await metric(app, 'callback_attempts')).toBe(4);
      expect(await metric(app, 'admin_audit')).toBe(1);
      const stats = (await (await fetch(`${app.url}/admin/deliveries/stats`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Row;
      const deadAt = new Date(Number((app.db.prepare('SELECT created_at FROM webhook_deliveries WHERE id = ?').get(deadId) as Row).created_at)).toISOString();
      expect(stats).toMatchObject({ by_status: { completed: 1, dead: 1, quarantined: 1 }, retention: { completed: '2s', failed: '1h' } });
      expect(stats.oldest_kept_at).toBe(deadAt);
      // A count this small is taken on every request.
      expect(Date.parse(stats.completed_counted_at as string)).toBeGreaterThanOrEqual(Date.now() - 5000);
    });
  });

  it('FAILED_RETENTION deletes dead and quarantined deliveries; started requests go after the longer setting; business data stays', async () => {
    const app = await startSandboxApp({ DELIVERY_RETENTION: '2s', FAILED_RETENTION: '2s' });
    const sink = await new CallbackSink().start();
    try {
      const started = await app.generate({ prompt: 'Write about data that outlives its delivery' });
      const channelId = started.body.channel_id as string;
      await app.waitForStatus(channelId, ['completed']);
      const { id: deadId, channelId: deadChannel } = await sendDead(app, sink);
      const invalid = aiGeneratedPayload({ callbackBase: sink.url });
      delete invalid.callback_url;
      const quarantinedId = await send(app, invalid);
      await settled(app, deadId, 'dead');
      expect(count(app, 'SELECT COUNT(*) AS n FROM ai_requests')).toBe(1);

      await sleep(2200);
      await app.app.get(RetentionService).runOnce();
      expect(count(app, 'SELECT COUNT(*) AS n FROM webhook_deliveries')).toBe(0);
      expect(statusOf(app, quarantinedId)).toBeUndefined();
      expect(count(app, 'SELECT COUNT(*) AS n FROM ai_requests')).toBe(0);
      // The request's content, and the dead delivery's (its processor ran; its callback failed).
      expect(count(app, 'SELECT COUNT(*) AS n FROM contents WHERE channel_id IN (?, ?)', channelId, deadChannel)).toBe(2);
      expect(await metric(app, 'ai_requests')).toBe(1);
      // Gone means gone, with a clear answer.
      expect((await fetch(`${app.url}/ai/requests/${channelId}`)).status).toBe(404);
    } finally {
      await app.close();
      await sink.close();
    }
  });

  it('keeps everything with off', async () => {
    const app = await startTestApp({ DELIVERY_RETENTION: 'off', FAILED_RETENTION: 'off' });
    const sink = await new CallbackSink().start();
    try {
      const id = await send(app, aiGeneratedPayload({ callbackBase: sink.url }));
      await settled(app, id, 'completed');
      await app.app.get(RetentionService).runOnce();
      expect(statusOf(app, id)).toBe('completed');
    } finally {
      await app.close();
      await sink.close();
    }
  });
});
