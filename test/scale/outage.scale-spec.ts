import { CallbackSink } from '../helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from '../helpers/create-test-app';
import { freshBackends, REDIS_TEST_DB, ScaleBackends } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';
import { TcpProxy } from '../helpers/tcp-proxy';

/** PostgreSQL or Redis down: webhooks get 503 + Retry-After (ModelRiver retries); back up: no restart needed. */
describe('scale profile: storage and queue outages', () => {
  let backends: ScaleBackends;
  let sink: CallbackSink;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let app: TestApp;

  beforeAll(async () => {
    backends = await freshBackends();
    sink = await new CallbackSink().start();
    const pg = new URL(backends.databaseUrl);
    pgProxy = await new TcpProxy(pg.hostname, Number(pg.port)).start();
    const redis = new URL(backends.redisUrl);
    redisProxy = await new TcpProxy(redis.hostname, Number(redis.port)).start();
    pg.port = String(pgProxy.port);
    app = await startTestApp({
      DATABASE_URL: pg.toString(),
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}/${REDIS_TEST_DB}`,
      QUEUE_SHUTDOWN_GRACE_MS: '500',
    });
  });
  afterAll(async () => {
    await pgProxy.restore().catch(() => undefined);
    await redisProxy.restore().catch(() => undefined);
    await app.close();
    await sink.close();
    await pgProxy.cut();
    await redisProxy.cut();
    await backends.drop();
  });

  const send = async (payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(15_000) });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
  };
  const delivered = (channelId: string) => waitFor(`callback for ${channelId}`, () => (sink.for(channelId).length > 0 ? true : undefined), 20_000);

  it('Redis down: 503 with Retry-After; back up: the retried delivery is processed, no restart', async () => {
    const before = aiGeneratedPayload({ callbackBase: sink.url });
    expect((await send(before)).status).toBe(200);
    await delivered(before.channel_id as string);

    await redisProxy.cut();
    // Down as the instance sees it: its connection noticed (until then a delivery can still run where it came in).
    await waitFor('readiness to report Redis down', async () => ((await fetch(`${app.url}/health/ready`)).status === 503 ? true : undefined));
    const during = aiGeneratedPayload({ callbackBase: sink.url });
    const refused = await send(during);
    expect(refused).toMatchObject({ status: 503, retryAfter: '5' });

    await redisProxy.restore();
    // ModelRiver retries the same delivery; it was stored, so the answer names the original and enqueues it.
    const retried = await waitFor('intake to accept again', async () => {
      const answer = await send(during);
      return answer.status === 200 ? answer : undefined;
    }, 20_000);
    expect(retried.body.received).toBe(true);
    await delivered(during.channel_id as string);
    expect(sink.for(during.channel_id as string)).toHaveLength(1);
  });

  it('PostgreSQL down: 503 with Retry-After; back up: accepted and processed, no restart', async () => {
    await pgProxy.cut();
    const during = aiGeneratedPayload({ callbackBase: sink.url });
    const refused = await send(during);
    expect(refused).toMatchObject({ status: 503, retryAfter: '5' });

    await pgProxy.restore();
    const accepted = await waitFor('intake to accept again', async () => {
      const answer = await send(during);
      return answer.status === 200 ? answer : undefined;
    }, 20_000);
    expect(accepted.body).toMatchObject({ received: true, duplicate: false });
    await delivered(during.channel_id as string);
  });
});
