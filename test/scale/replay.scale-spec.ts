import { AppProcess } from '../helpers/app-process';
import { waitFor } from '../helpers/create-test-app';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const ADMIN = 'admin-token-for-scale-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Answer = { status: number; body: Record<string, unknown> };

/**
 * Admin replays on PostgreSQL, where requests really run side by side (a connection pool per instance, two
 * instances): a replay is one conditional statement, so concurrent replays, and a replay racing ModelRiver's
 * redelivery of the same webhook, make one delivery that runs once, and nobody gets a 5xx.
 */
describe('scale profile: concurrent admin replays', () => {
  const cluster = useScaleCluster({ ADMIN_TOKEN: ADMIN, CALLBACK_BUDGET_MS: '3000', CALLBACK_TIMEOUT_MS: '300', CALLBACK_RETRY_BASE_MS: '20' });
  const startInstance = (extra: Record<string, string> = {}) => cluster.start(extra);
  const send = async (app: AppProcess, payload: unknown): Promise<Answer> => {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const replay = async (app: AppProcess, id: string): Promise<Answer> => {
    const response = await fetch(`${app.url}/admin/deliveries/${id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const row = async (id: string) => (await cluster.rows('SELECT status, attempts, callback_status FROM webhook_deliveries WHERE id = $1', [id]))[0];
  const settled = (id: string) =>
    waitFor(
      `delivery ${id} to settle`,
      async () => {
        const found = await row(id);
        return found?.status === 'completed' || found?.status === 'dead' ? found : undefined;
      },
      15_000,
    );

  it('ten concurrent replays of a dead delivery over two instances: one 202, nine 409, one run, one audit entry', async () => {
    const [a, b] = [await startInstance(), await startInstance()];
    const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
    const channel = payload.channel_id as string;
    cluster.sink.script(channel, 400, 200); // rejected, then the error callback
    const id = (await send(a, payload)).body.delivery_id as string;
    expect(await settled(id)).toMatchObject({ status: 'dead' });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => replay(n % 2 ? a : b, id)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, ...Array<number>(9).fill(409)]);
    expect(await settled(id)).toMatchObject({ status: 'completed', callback_status: 'delivered', attempts: 1 });
    await sleep(300);
    expect(cluster.sink.for(channel).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed', 'result']);
    expect(await cluster.rows('SELECT COUNT(*)::int AS n FROM admin_audit WHERE delivery_id = $1', [id])).toEqual([{ n: 1 }]);
  });

  it('replays of a quarantined delivery racing the redelivered webhook on both instances: one delivery, one run, no 5xx', async () => {
    // Quarantined while task.ai_generated was not accepted; then the operator accepts it and restarts.
    const before = await startInstance({ WEBHOOK_EVENT_TYPES: 'task.completed' });
    const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
    const channel = payload.channel_id as string;
    const quarantined = await send(before, payload);
    expect(quarantined).toMatchObject({ status: 202, body: { quarantined: true } });
    await before.kill('SIGTERM');
    const [a, b] = [await startInstance(), await startInstance()];
    const id = String(quarantined.body.delivery_id);
    const answers = await Promise.all([
      send(a, payload),
      send(b, payload),
      ...Array.from({ length: 8 }, (_, n) => replay(n % 2 ? a : b, id)),
    ]);
    const [webhooks, replays] = [answers.slice(0, 2), answers.slice(2)];
    expect(answers.filter((answer) => answer.status >= 500)).toEqual([]);
    expect(webhooks.map((answer) => answer.status)).toEqual([200, 200]);
    const created = webhooks.filter((answer) => answer.body.duplicate === false).length + replays.filter((answer) => answer.status === 202).length;
    expect(created).toBe(1);
    expect(replays.filter((answer) => answer.status !== 202).every((answer) => answer.status === 409)).toBe(true);
    const accepted = (await cluster.rows("SELECT id FROM webhook_deliveries WHERE channel_id = $1 AND status <> 'quarantined'", [channel])) as { id: string }[];
    expect(accepted).toHaveLength(1);
    expect(await settled(accepted[0].id)).toMatchObject({ status: 'completed', callback_status: 'delivered', attempts: 1 });
    await sleep(300);
    expect(cluster.sink.for(channel)).toHaveLength(1);
  });
});
