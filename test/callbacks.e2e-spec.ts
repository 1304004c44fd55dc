import { randomUUID } from 'node:crypto';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

type Row = Record<string, unknown>;

const BUDGET_MS = 3000;
const TIMEOUT_MS = 300;
const FAST_CALLBACKS = {
  CALLBACK_TIMEOUT_MS: String(TIMEOUT_MS),
  CALLBACK_CONNECT_TIMEOUT_MS: '200',
  CALLBACK_BUDGET_MS: String(BUDGET_MS),
  CALLBACK_RETRY_BASE_MS: '50',
  CALLBACK_RETRY_MAX_MS: '200',
};

async function send(app: TestApp, payload: unknown): Promise<string> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  expect(response.status).toBe(200);
  return ((await response.json()) as { delivery_id: string }).delivery_id;
}

function settled(app: TestApp, id: string): Promise<Row> {
  return waitFor(
    `delivery ${id} to settle`,
    () => {
      const row = app.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as Row | undefined;
      return ['completed', 'dead'].includes(row?.status as string) ? row : undefined;
    },
    BUDGET_MS * 3,
  );
}

const attempts = (app: TestApp, id: string) =>
  app.db
    .prepare('SELECT kind, attempt, status_code, outcome, error, duration_ms, created_at FROM callback_attempts WHERE delivery_id = ? ORDER BY created_at, attempt')
    .all(id) as Row[];

describe('callback faults', () => {
  let app: TestApp;
  let sink: CallbackSink;

  beforeAll(async () => {
    sink = await new CallbackSink().start();
    app = await startTestApp(FAST_CALLBACKS);
  });
  afterAll(async () => {
    await app.close();
    await sink.close();
  });

  const deliver = async (...replies: Parameters<CallbackSink['script']>[1][]) => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url });
    const channelId = payload.channel_id as string;
    sink.script(channelId, ...replies);
    const id = await send(app, payload);
    return { id, channelId, row: await settled(app, id) };
  };

  it('500, 500, 200: delivered on the third attempt, every attempt recorded', async () => {
    const { id, channelId, row } = await deliver(500, 500, 200);
    expect(row).toMatchObject({ status: 'completed', callback_status: 'delivered' });
    expect(sink.for(channelId)).toHaveLength(3);
    expect(new Set(sink.for(channelId).map((r) => r.body.task_id))).toEqual(new Set([`task_${id}`]));
    expect(attempts(app, id).map((a) => [a.kind, a.attempt, a.status_code, a.outcome])).toEqual([
      ['result', 1, 500, 'retryable'],
      ['result', 2, 500, 'retryable'],
      ['result', 3, 200, 'delivered'],
    ]);
  });

  it('429 with Retry-After: 1 is honoured before the next attempt', async () => {
    const { channelId, row } = await deliver({ status: 429, headers: { 'retry-after': '1' } }, 200);
    expect(row).toMatchObject({ status: 'completed', callback_status: 'delivered' });
    const [first, second] = sink.for(channelId);
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1000);
  });

  it('409 (already completed) counts as delivered', async () => {
    const { channelId, row } = await deliver(409);
    expect(row).toMatchObject({ status: 'completed', callback_status: 'delivered' });
    expect(sink.for(channelId)).toHaveLength(1);
  });

  it('400 is final: one error callback, then dead', async () => {
    const { id, channelId, row } = await deliver(400, 200);
    expect(row).toMatchObject({ status: 'dead', callback_status: 'error_sent' });
    expect(row.last_error).toContain('callback answered 400');
    expect(sink.for(channelId).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed']);
    expect(attempts(app, id).map((a) => [a.kind, a.status_code, a.outcome])).toEqual([
      ['result', 400, 'final'],
      ['error', 200, 'delivered'],
    ]);
  });

  it('a sink that never answers: timeouts, retries, then the error path, all inside the budget', async () => {
    const { id, row } = await deliver(...Array<'hang'>(50).fill('hang'));
    expect(row).toMatchObject({ status: 'dead', callback_status: 'error_failed' });
    const tried = attempts(app, id);
    const results = tried.filter((a) => a.kind === 'result');
    expect(results.length).toBeGreaterThanOrEqual(2);
    expect(results.every((a) => a.outcome === 'retryable' && String(a.error).startsWith('no answer within'))).toBe(true);
    expect(tried.filter((a) => a.kind === 'error')).toHaveLength(1);
    // Every attempt, the error callback included, has ended by the end of the budget (plus scheduling slack).
    const receivedAt = Number(row.created_at);
    for (const attempt of tried) expect(Number(attempt.created_at)).toBeLessThanOrEqual(receivedAt + BUDGET_MS + 250);
  });

  it('a 302 to an internal address is not followed: the target sees nothing', async () => {
    const internal = await new CallbackSink().start();
    try {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const channelId = payload.channel_id as string;
      const redirect = { status: 302, headers: { location: internal.callbackUrl(channelId) } };
      sink.script(channelId, redirect, redirect);
      const id = await send(app, payload);
      expect(await settled(app, id)).toMatchObject({ status: 'dead' });
      expect(attempts(app, id)[0]).toMatchObject({ status_code: 302, outcome: 'final' });
      expect(internal.requests).toHaveLength(0);
    } finally {
      await internal.close();
    }
  });
});

describe('callback URL policy (SSRF)', () => {
  let app: TestApp;
  let target: CallbackSink;

  beforeAll(async () => {
    // Listens on every local address (IPv4 and IPv6 loopback), so any connection would be seen.
    target = await new CallbackSink().start('::').catch(() => new CallbackSink().start());
    // `localhost` is allowlisted by name only: it passes the host check, and connect time must still refuse it.
    app = await startTestApp({ ...FAST_CALLBACKS, CALLBACK_ALLOWED_HOSTS: 'api.modelriver.com,localhost' });
  });
  afterAll(async () => {
    await app.close();
    await target.close();
  });

  const cases: [string, (port: number, channel: string) => string, string][] = [
    ['http://127.0.0.1 (not allowlisted)', (p, c) => `http://127.0.0.1:${p}/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['http://localhost (allowlisted name, loopback address)', (p, c) => `http://localhost:${p}/v1/callback/${c}`, 'refused at connect time'],
    ['http://[::1]', (p, c) => `http://[::1]:${p}/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['http://169.254.169.254', (_p, c) => `http://169.254.169.254/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['http://10.0.0.1', (_p, c) => `http://10.0.0.1/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['http://2130706433', (p, c) => `http://2130706433:${p}/v1/callback/${c}`, 'host 127.0.0.1 is not in'],
    ['http://[::ffff:127.0.0.1]', (p, c) => `http://[::ffff:127.0.0.1]:${p}/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['credentials in the URL', (_p, c) => `https://u:p@api.modelriver.com/v1/callback/${c}`, 'credentials'],
    ['a mismatched channel id', () => `https://api.modelriver.com/v1/callback/${randomUUID()}`, 'channel_id'],
    ['a host not allowlisted', (_p, c) => `https://evil.example/v1/callback/${c}`, 'not in CALLBACK_ALLOWED_HOSTS'],
  ];

  it.each(cases)('refuses %s with no connection made', async (_name, urlFor, reason) => {
    const payload = aiGeneratedPayload();
    const channelId = payload.channel_id as string;
    payload.callback_url = urlFor(target.port, channelId);
    const seenBefore = target.requests.length;
    const id = await send(app, payload);
    const row = await settled(app, id);
    expect(row).toMatchObject({ status: 'dead', callback_status: 'refused' });
    expect(String(row.last_error)).toContain(reason);
    expect(target.requests).toHaveLength(seenBefore);
    // No error callback either: the URL itself is what is wrong.
    expect(attempts(app, id).every((a) => a.outcome === 'refused')).toBe(true);
  });
});
