import { AppProcess } from '../helpers/app-process';
import { waitFor } from '../helpers/create-test-app';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Admission control across instances: the backlog both instances share (PostgreSQL) decides. Slow callbacks
 * and two worker slots per instance make processing fall behind; both instances then refuse new webhooks with
 * 503 + Retry-After, every delivery answered 200 is called back exactly once, and intake accepts again once the
 * backlog drains.
 */
describe('scale profile: admission control over two instances', () => {
  const cluster = useScaleCluster({ INTAKE_MAX_BACKLOG_AGE_MS: '300', QUEUE_CONCURRENCY: '2' }, { sinkDelayMs: 100 });
  const send = async (app: AppProcess, payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    await response.arrayBuffer();
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  };

  // The test's own limit leaves room for its waits (two instances' starts, 2 s of load, up to 60 s for the callbacks,
  // 10 s to recover): under jest's default of 60 s a slow machine ran out of time inside the callbacks' wait.
  it('refuses with 503 + Retry-After on both instances under overload, calls back every 200 once, and recovers', async () => {
    const instances = [await cluster.start(), await cluster.start()];
    const accepted: string[] = [];
    const refused: { app: number; channel: string; retryAfter: string | null }[] = [];
    const until = Date.now() + 2000;
    await Promise.all(
      Array.from({ length: 4 }, async (_, sender) => {
        while (Date.now() < until) {
          await sleep(20);
          const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
          const answer = await send(instances[sender % 2], payload);
          if (answer.status === 200) accepted.push(payload.channel_id as string);
          else if (answer.status === 503) refused.push({ app: sender % 2, channel: payload.channel_id as string, retryAfter: answer.retryAfter });
          else throw new Error(`unexpected status ${answer.status}`);
        }
      }),
    );
    expect(new Set(refused.map((r) => r.app))).toEqual(new Set([0, 1]));
    expect(refused.every((r) => r.retryAfter !== null && Number(r.retryAfter) >= 1)).toBe(true);
    const stored = await cluster.rows('SELECT COUNT(*)::int AS n FROM webhook_deliveries WHERE channel_id = ANY($1)', [refused.map((r) => r.channel)]);
    expect(stored).toEqual([{ n: 0 }]);
    await waitFor('every accepted delivery to be called back', () => (accepted.every((c) => cluster.sink.for(c).length > 0) ? true : undefined), 60_000);
    await sleep(300);
    expect(accepted.filter((c) => cluster.sink.for(c).length !== 1)).toEqual([]);
    await waitFor('intake to accept again', async () => ((await send(instances[0], aiGeneratedPayload({ callbackBase: cluster.sink.url }))).status === 200 ? true : undefined), 10_000);
    process.stdout.write(`admission (scale, two instances): accepted ${accepted.length}, refused ${refused.length}, each accepted one called back once\n`);
  }, 120_000);
});
