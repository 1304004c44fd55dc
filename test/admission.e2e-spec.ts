import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { metricSample } from './helpers/metrics';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(app: TestApp, payload: Record<string, unknown>) {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
}

const metric = async (app: TestApp, series: string) => (await metricSample(app.url, series)) ?? 0;

/**
 * Admission control (INTAKE_MAX_BACKLOG_AGE_MS) in the embedded profile: slow callbacks and two worker slots
 * make processing fall behind a burst; intake then refuses new webhooks with 503 + Retry-After and stores
 * nothing for them, still answers a redelivery of a stored one with 200, and accepts again once the backlog drains.
 */
describe('admission control: intake refuses while the backlog is older than INTAKE_MAX_BACKLOG_AGE_MS', () => {
  let sink: CallbackSink;
  let app: TestApp;
  beforeAll(async () => {
    sink = await new CallbackSink({ delayMs: 100 }).start();
    app = await startTestApp({ INTAKE_MAX_BACKLOG_AGE_MS: '300', QUEUE_CONCURRENCY: '4' });
  });
  afterAll(async () => {
    await app.close();
    await sink.close();
  });

  it('refuses with 503 + Retry-After under overload, calls back every accepted delivery once, and recovers', async () => {
    const accepted: Record<string, unknown>[] = [];
    const refused: { channel: string; retryAfter: string | null }[] = [];
    // Three senders at ~150/s for 1.5 s (at most 600 requests): far more than four slots of 100 ms callbacks
    // (~40/s) keep up with.
    const until = Date.now() + 1500;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (Date.now() < until && sent < 600) {
          sent++;
          await sleep(20);
          const payload = aiGeneratedPayload({ callbackBase: sink.url });
          const answer = await send(app, payload);
          if (answer.status === 200) accepted.push(payload);
          else if (answer.status === 503) refused.push({ channel: payload.channel_id as string, retryAfter: answer.retryAfter });
          else throw new Error(`unexpected ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
      }),
    );
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.retryAfter !== null && Number(r.retryAfter) >= 1)).toBe(true);
    // Nothing was stored for a refused webhook.
    const stored = app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE channel_id = ?');
    expect(refused.filter((r) => (stored.get(r.channel) as { n: number }).n > 0)).toEqual([]);
    expect(await metric(app, 'modelriver_webhooks_total{outcome="refused",reason="backlog"}')).toBe(refused.length);

    // While refusing, a redelivery of a stored delivery still gets its 200 (duplicate).
    const again = await send(app, accepted.at(-1)!);
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });

    // Every delivery answered 200 is called back, exactly once.
    await waitFor('every accepted delivery to be called back', () => (accepted.every((p) => sink.for(p.channel_id as string).length > 0) ? true : undefined), 60_000);
    await sleep(300);
    expect(accepted.filter((p) => sink.for(p.channel_id as string).length !== 1)).toEqual([]);

    process.stdout.write(`admission (embedded): accepted ${accepted.length}, refused ${refused.length} with Retry-After ${[...new Set(refused.map((r) => r.retryAfter))].join('/')} s, each accepted one called back once\n`);
    // The backlog drained: new webhooks are accepted again.
    await waitFor('intake to accept again', async () => ((await send(app, aiGeneratedPayload({ callbackBase: sink.url }))).status === 200 ? true : undefined), 10_000);
  });
});
