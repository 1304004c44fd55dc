import { waitFor } from '../helpers/create-test-app';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_ATTEMPTS = 3;
const LEASE_MS = 1500;

/**
 * The scale profile's queue under the worst crash pattern: the instance running a delivery is killed (kill -9)
 * while every attempt's callback is in flight. The delivery must still end: dead after QUEUE_MAX_ATTEMPTS
 * claims, with exactly one error callback, and it must stay dead (no sweeper revival).
 */
describe('scale profile: an instance killed on every attempt', () => {
  const cluster = useScaleCluster({ QUEUE_MAX_ATTEMPTS: String(MAX_ATTEMPTS), QUEUE_LEASE_MS: String(LEASE_MS) });

  it('ends dead after QUEUE_MAX_ATTEMPTS claims with one error callback, and is never revived', async () => {
    const { sink } = cluster;
    const payload = aiGeneratedPayload({ callbackBase: sink.url });
    const channelId = payload.channel_id as string;
    // Every result callback hangs (in flight when the instance dies); the error callback is answered.
    sink.script(channelId, ...Array<'hang'>(MAX_ATTEMPTS).fill('hang'));
    let app = await cluster.start();
    const body = JSON.stringify(payload);
    const answer = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    expect(answer.status).toBe(200);

    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await waitFor(`result callback attempt ${attempt}`, () => (sink.for(channelId).length >= attempt ? true : undefined), 30_000);
      await app.kill('SIGKILL');
      app = await cluster.start();
    }
    const delivery = () => cluster.rows('SELECT status, attempts, callback_status FROM webhook_deliveries WHERE channel_id = $1', [channelId]);
    const row = await waitFor('the delivery to end', async () => ((await delivery())[0]?.status === 'dead' ? (await delivery())[0] : undefined), 30_000);
    expect(row).toEqual({ status: 'dead', attempts: MAX_ATTEMPTS + 1, callback_status: 'error_sent' });
    // Long enough for the sweeper (rows untouched for 3 x QUEUE_LEASE_MS, at least 5 s, checked every second) to act.
    await sleep(Math.max(5000, 3 * LEASE_MS) + 2500);
    const callbacks = sink.for(channelId);
    expect(callbacks.map((callback) => ('error' in callback.body ? 'error' : 'result'))).toEqual([...Array<string>(MAX_ATTEMPTS).fill('result'), 'error']);
    expect(callbacks.at(-1)?.body).toMatchObject({ error: 'processing_failed' });
    expect(await delivery()).toEqual([{ status: 'dead', attempts: MAX_ATTEMPTS + 1, callback_status: 'error_sent' }]);
  });
});
