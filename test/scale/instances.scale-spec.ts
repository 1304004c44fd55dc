import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { AppProcess, freePort } from '../helpers/app-process';
import { SinkRequest } from '../helpers/callback-sink';
import { waitFor } from '../helpers/create-test-app';
import { metricSample } from '../helpers/metrics';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';
import { expectOnlyWindowDoubles, startSignedLoad } from '../helpers/signed-load';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two instances of the built app on one PostgreSQL + Redis (the scale profile), as an operator runs them. */
describe('scale profile: two instances', () => {
  const cluster = useScaleCluster({ QUEUE_LEASE_MS: '1500' });
  const startInstance = (extra: Record<string, string> = {}) => cluster.start(extra);
  const post = async (app: AppProcess, body: string) => {
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const rows = (sql: string, params: unknown[] = []) => cluster.rows(sql, params);

  it('the same delivery sent concurrently to both instances is processed once, with one callback', async () => {
    const [a, b] = [await startInstance(), await startInstance()];
    for (let round = 0; round < 5; round++) {
      const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
      const body = JSON.stringify(payload);
      const answers = await Promise.all([post(a, body), post(b, body), post(a, body), post(b, body)]);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      expect(answers.filter((answer) => answer.body.duplicate === false)).toHaveLength(1);
      const channelId = payload.channel_id as string;
      await waitFor('completion', async () => ((await rows("SELECT 1 FROM webhook_deliveries WHERE channel_id = $1 AND status = 'completed'", [channelId])).length ? true : undefined));
      expect(await rows('SELECT attempts FROM webhook_deliveries WHERE channel_id = $1', [channelId])).toEqual([{ attempts: 1 }]);
      expect(await rows('SELECT COUNT(*)::int AS n FROM contents WHERE channel_id = $1', [channelId])).toEqual([{ n: 1 }]);
      await sleep(100);
      expect(cluster.sink.for(channelId)).toHaveLength(1);
    }
  });

  it('/metrics counts the statements sent to PostgreSQL: three prepared ones per delivery run where it came in (insert, result, completion)', async () => {
    const app = await startInstance();
    // Absent (undefined) makes the difference below NaN, which fails.
    const prepared = async () => Number(await metricSample(app.url, 'modelriver_postgres_statements_total{prepared="true"}'));
    const runs = async (start: string) => Number((await metricSample(app.url, `modelriver_job_runs_total{start="${start}"}`)) ?? 0);
    const before = await prepared();
    const [intakeBefore, queueBefore] = [await runs('intake'), await runs('queue')];
    const payloads = [
      aiGeneratedPayload({ callbackBase: cluster.sink.url }),
      aiGeneratedPayload({ callbackBase: cluster.sink.url, event: 'entities_extracted', data: { entities: [{ name: 'Ada', type: 'person' }] } }),
    ];
    for (const payload of payloads) expect((await post(app, JSON.stringify(payload))).status).toBe(200);
    await waitFor('both callbacks', () => (payloads.every((payload) => cluster.sink.for(payload.channel_id as string).length === 1) ? true : undefined));
    const channels = payloads.map((payload) => payload.channel_id as string);
    await waitFor('both completions', async () =>
      (await rows("SELECT COUNT(*)::int AS n FROM webhook_deliveries WHERE status = 'completed' AND channel_id = ANY($1)", [channels]))[0].n === 2 ? true : undefined,
    );
    expect((await prepared()) - before).toBe(2 * 3);
    // Both ran where they came in (no BullMQ job, no claim), as /metrics says.
    expect([(await runs('intake')) - intakeBefore, (await runs('queue')) - queueBefore]).toEqual([2, 0]);
  });

  it('a socket.io client on instance B receives the events of a request generated through instance A', async () => {
    const sandboxPort = String(await freePort());
    const a = await startInstance({ MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: sandboxPort, SANDBOX_LATENCY_MS: '400', SANDBOX_TIME_FACTOR: '0.01' });
    const b = await startInstance({ MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: String(await freePort()) });
    const started = (await (
      await fetch(`${a.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Across instances' }) })
    ).json()) as { channel_id: string; realtime: { subscribe_token: string } };
    const socket = io(`${b.url}/ai`, { transports: ['websocket'], reconnection: false });
    const received: { event: string; payload: Record<string, unknown> }[] = [];
    for (const event of ['ai:response', 'ai:processing', 'ai:processed', 'ai:error']) socket.on(event, (payload: Record<string, unknown>) => received.push({ event, payload }));
    try {
      const ack = (await socket.timeout(5000).emitWithAck('subscribe', { channel_id: started.channel_id, subscribe_token: started.realtime.subscribe_token })) as { ok: boolean };
      expect(ack.ok).toBe(true);
      await waitFor('the completed response on B', () => received.find((r) => r.event === 'ai:response' && r.payload.status === 'completed'));
      await waitFor('the processed event on B', () => received.find((r) => r.event === 'ai:processed'));
      // The worker and the upstream relay may run on different instances, so processed and ModelRiver's
      // completed push race; every event arrives, and seq (shared in Redis) follows arrival order.
      expect(received.map((r) => (r.event === 'ai:response' ? `response:${String(r.payload.status)}` : r.event)).sort()).toEqual(
        ['ai:processed', 'ai:processing', 'response:ai_generated', 'response:completed'],
      );
      const seqs = received.map((r) => r.payload.seq as number);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
    } finally {
      socket.close();
    }
  });

  it('a plain WebSocket listener (/ws/ai) on instance B follows a request generated through instance A to the end', async () => {
    const a = await startInstance({ MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: String(await freePort()), SANDBOX_LATENCY_MS: '400', SANDBOX_TIME_FACTOR: '0.01' });
    const b = await startInstance({ MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: String(await freePort()) });
    const started = (await (
      await fetch(`${a.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Plain across instances' }) })
    ).json()) as { channel_id: string; realtime: { subscribe_token: string } };
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/ws/ai/${started.channel_id}?token=${encodeURIComponent(started.realtime.subscribe_token)}`);
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
    const code = await new Promise<number>((resolve) => ws.on('close', (closeCode) => resolve(closeCode)));
    expect(code).toBe(1000);
    expect(frames[0]).toMatchObject({ event: 'state', channel_id: started.channel_id });
    expect(frames.filter((f) => f.event === undefined).map((f) => f.status)).toEqual(expect.arrayContaining(['ai_generated', 'completed']));
    expect(frames.some((f) => f.event === 'ai:processed')).toBe(true);
  });

  it('kill -9 one instance mid-processing: the other finishes its jobs; nothing is lost', async () => {
    // Slow callbacks keep jobs in flight on A when it dies.
    const [a, b] = [await startInstance(), await startInstance()];
    // Two senders on B, one on A.
    let turn = 0;
    const load = startSignedLoad({ target: () => (turn++ % 3 === 0 ? a.url : b.url), senders: 3, payload: () => ({ callbackBase: cluster.sink.url }) });
    const { accepted } = load;
    await waitFor('load on both instances', () => (accepted.size >= 60 ? true : undefined), 30_000);
    await a.kill('SIGKILL');
    const killedAt = Date.now(); // the exit is observed: A sends nothing after this
    await waitFor('more deliveries through B', () => (accepted.size >= 120 ? true : undefined), 30_000);
    await load.stop();
    await waitFor(
      'every accepted delivery to complete',
      async () => ((await rows("SELECT COUNT(*)::int AS n FROM webhook_deliveries WHERE status <> 'completed'"))[0].n === 0 ? true : undefined),
      30_000,
    );
    const doubles: SinkRequest[][] = [];
    for (const channel of accepted) {
      expect(await rows('SELECT status FROM webhook_deliveries WHERE channel_id = $1', [channel])).toEqual([{ status: 'completed' }]);
      const callbacks = cluster.sink.for(channel);
      expect(callbacks.length).toBeGreaterThanOrEqual(1);
      if (callbacks.length > 1) doubles.push(callbacks);
    }
    expectOnlyWindowDoubles(doubles, [killedAt]);
    process.stdout.write(`scale kill test: accepted ${accepted.size}, callbacks ${cluster.sink.requests.length}, doubles ${doubles.length}\n`);
  });
});
