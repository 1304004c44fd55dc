import { AppProcess } from '../helpers/app-process';
import { waitFor } from '../helpers/create-test-app';
import { metricSample } from '../helpers/metrics';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const deletedRows = async (app: AppProcess, table: string) => (await metricSample(app.url, `modelriver_retention_deleted_rows_total{table="${table}"}`)) ?? 0;

/**
 * Retention on PostgreSQL with two instances purging at once: they share the rows (SKIP LOCKED), so every
 * expired delivery is deleted exactly once between them, with its callback attempts; business data stays.
 */
describe('scale profile: retention', () => {
  const cluster = useScaleCluster({ DELIVERY_RETENTION: '3s', FAILED_RETENTION: '1h' });

  it('two instances delete every expired completed delivery once between them; dead ones and contents stay', async () => {
    const instances = [await cluster.start(), await cluster.start()];
    const send = async (app: AppProcess, payload: Record<string, unknown>) => {
      const body = JSON.stringify(payload);
      const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    };
    const total = 1200;
    for (let sent = 0; sent < total; sent += 40) {
      await Promise.all(Array.from({ length: 40 }, (_, n) => send(instances[n % 2], aiGeneratedPayload({ callbackBase: cluster.sink.url }))));
    }
    const dead = aiGeneratedPayload({ callbackBase: cluster.sink.url });
    cluster.sink.script(dead.channel_id as string, 400, 200);
    await send(instances[0], dead);
    const count = async (sql: string) => Number((await cluster.rows(sql))[0].n);
    // Early deliveries may be gone before the last one finishes: the callbacks tell when all are done.
    await waitFor('every callback', () => (cluster.sink.requests.length >= total + 2 ? true : undefined), 30_000);

    await waitFor('the expired deliveries to go', async () => ((await count('SELECT COUNT(*) AS n FROM webhook_deliveries')) === 1 ? true : undefined), 30_000);
    expect(await cluster.rows('SELECT status FROM webhook_deliveries')).toEqual([{ status: 'dead' }]);
    expect(await count('SELECT COUNT(*) AS n FROM callback_attempts')).toBe(2);
    expect(await count('SELECT COUNT(*) AS n FROM contents')).toBe(total + 1);
    const [a, b] = await Promise.all(instances.map((app) => deletedRows(app, 'webhook_deliveries')));
    expect(a + b).toBe(total);
    process.stdout.write(`retention on PostgreSQL: ${total} deliveries deleted, ${a} by one instance and ${b} by the other\n`);
  }, 90_000);
});
