import IORedis from 'ioredis';
import { Client } from 'pg';
import { CallbackSink } from '../helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from '../helpers/create-test-app';
import { freshBackends, REDIS_TEST_DB, ScaleBackends } from '../helpers/scale-env';
import { startSignedLoad } from '../helpers/signed-load';
import { TcpProxy } from '../helpers/tcp-proxy';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Redis restarted mid-burst without persistence (connections dropped, every job gone): no accepted delivery lost. */
describe('scale profile: Redis restarted mid-burst', () => {
  let backends: ScaleBackends;
  let sink: CallbackSink;
  let proxy: TcpProxy;
  let app: TestApp;

  beforeAll(async () => {
    backends = await freshBackends();
    sink = await new CallbackSink().start();
    const redis = new URL(backends.redisUrl);
    proxy = await new TcpProxy(redis.hostname, Number(redis.port)).start();
    app = await startTestApp({
      DATABASE_URL: backends.databaseUrl,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}/${REDIS_TEST_DB}`,
      QUEUE_LEASE_MS: '1000',
      QUEUE_SHUTDOWN_GRACE_MS: '500',
      // Two workers against three senders: a backlog of waiting jobs builds up in Redis for the restart to wipe.
      QUEUE_CONCURRENCY: '2',
    });
  });
  afterAll(async () => {
    await proxy.restore();
    await app.close();
    await sink.close();
    await proxy.cut();
    await backends.drop();
  });

  it('every delivery answered 200 is processed and called back', async () => {
    const load = startSignedLoad({ target: () => app.url, senders: 3, payload: () => ({ callbackBase: sink.url }) });
    const { accepted, statuses } = load;
    await waitFor('a burst in flight', () => (accepted.size >= 40 ? true : undefined), 30_000);
    // The restart: connections drop, the data is gone (no persistence), then Redis is back.
    await proxy.cut();
    const backlog = new Client({ connectionString: backends.databaseUrl });
    await backlog.connect();
    const { rows: waiting } = await backlog.query("SELECT COUNT(*)::int AS n FROM webhook_deliveries WHERE status <> 'completed'");
    await backlog.end();
    // Meaningful only if jobs were in Redis when it lost them: the sweeper must bring these back.
    expect(waiting[0].n).toBeGreaterThan(0);
    const direct = new IORedis(backends.redisUrl);
    await direct.flushdb();
    direct.disconnect();
    await sleep(500);
    await proxy.restore();
    await waitFor('more deliveries after the restart', () => (accepted.size >= 80 ? true : undefined), 30_000);
    await load.stop();

    const pg = new Client({ connectionString: backends.databaseUrl });
    await pg.connect();
    let lastSeen = '';
    try {
      await waitFor(
        'every accepted delivery to complete',
        async () => {
          const { rows } = await pg.query("SELECT status, left(last_error, 120) AS e, COUNT(*)::int AS n FROM webhook_deliveries WHERE status <> 'completed' GROUP BY status, e");
          lastSeen = JSON.stringify(rows);
          return rows.length === 0 ? true : undefined;
        },
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; unfinished: ${lastSeen}`);
      });
      for (const channel of accepted) expect(sink.for(channel).length).toBeGreaterThanOrEqual(1);
      expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
      process.stdout.write(
        `\nredis restart: ${waiting[0].n} unfinished deliveries when Redis lost everything; accepted ${accepted.size}, all completed and called back; 503s during the outage: ${statuses.get(503) ?? 0}\n`,
      );
    } finally {
      await pg.end();
    }
  }, 120_000);
});
