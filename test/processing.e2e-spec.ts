import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';
import { FlakyTestProcessor, TestProcessorsModule } from './helpers/test-processors';

type Row = Record<string, unknown>;

async function send(app: TestApp, payload: unknown): Promise<Record<string, unknown>> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const delivery = (app: TestApp, id: unknown) => app.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as Row;

function settled(app: TestApp, id: unknown): Promise<Row> {
  return waitFor(`delivery ${String(id)} to settle`, () => {
    const row = delivery(app, id);
    return ['completed', 'dead'].includes(row?.status as string) ? row : undefined;
  });
}

describe('event processors and the callback', () => {
  let app: TestApp;
  let sink: CallbackSink;

  beforeAll(async () => {
    sink = await new CallbackSink().start();
    app = await startTestApp({ MODELRIVER_API_KEY: 'mr_live_callback_key' }, { imports: [TestProcessorsModule] });
  });
  afterAll(async () => {
    await app.close();
    await sink.close();
  });

  it('content_ready: stores the content with a slug and calls back with the enriched data', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, data: { title: 'Launch Notes', body: 'We shipped.' } });
    const answer = await send(app, payload);
    const row = await settled(app, answer.delivery_id);
    expect(row).toMatchObject({ status: 'completed', callback_status: 'delivered' });

    const content = app.db.prepare('SELECT * FROM contents WHERE channel_id = ?').get(payload.channel_id) as Row;
    expect(content).toMatchObject({ title: 'Launch Notes', body: 'We shipped.', slug: 'launch-notes' });

    const [callback] = sink.for(payload.channel_id as string);
    expect(callback.headers.authorization).toBe('Bearer mr_live_callback_key');
    expect(callback.headers['content-type']).toContain('application/json');
    expect(callback.body).toEqual({
      data: {
        title: 'Launch Notes',
        body: 'We shipped.',
        processed: true,
        saved_at: new Date(Number(content.created_at)).toISOString(),
        content_id: content.id,
        slug: 'launch-notes',
      },
      task_id: `task_${String(answer.delivery_id)}`,
      metadata: { delivery_id: answer.delivery_id, event: 'content_ready' },
    });
  });

  it('content_ready: the same title on another channel gets a suffixed slug', async () => {
    const first = aiGeneratedPayload({ callbackBase: sink.url, data: { title: 'Same Title', body: 'a' } });
    const second = aiGeneratedPayload({ callbackBase: sink.url, data: { title: 'Same Title', body: 'b' } });
    await settled(app, (await send(app, first)).delivery_id);
    await settled(app, (await send(app, second)).delivery_id);
    const slugs = app.db
      .prepare('SELECT slug FROM contents WHERE channel_id IN (?, ?) ORDER BY created_at')
      .all(first.channel_id, second.channel_id) as { slug: string }[];
    expect(slugs[0].slug).toBe('same-title');
    expect(slugs[1].slug).toMatch(/^same-title-[0-9a-f]{8}$/);
    expect((sink.for(second.channel_id as string)[0].body.data as Row).slug).toBe(slugs[1].slug);
  });

  it('entities_extracted: validates, drops duplicates, stores, and reports both lists', async () => {
    const entities = [{ name: 'Ada Lovelace', type: 'person' }, { name: 'ada lovelace', type: 'person' }, { name: '' }, { name: 'London', type: 'place' }];
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'entities_extracted', data: { entities, source: 'doc-1' } });
    const answer = await send(app, payload);
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
    expect(sink.for(payload.channel_id as string)[0].body).toEqual({
      data: {
        entities,
        source: 'doc-1',
        entities_validated: 2,
        entities_valid: [
          { name: 'Ada Lovelace', type: 'person' },
          { name: 'London', type: 'place' },
        ],
        entities_rejected: [
          { index: 1, reason: 'duplicate' },
          { index: 2, reason: 'missing_name' },
        ],
      },
      task_id: `task_${String(answer.delivery_id)}`,
      metadata: { delivery_id: answer.delivery_id, event: 'entities_extracted' },
    });
    const stored = app.db.prepare('SELECT name, type FROM entities WHERE channel_id = ? ORDER BY position').all(payload.channel_id);
    expect(stored).toEqual([
      { name: 'Ada Lovelace', type: 'person' },
      { name: 'London', type: 'place' },
    ]);
  });


  it('entities_extracted: lists of every length are stored whole, in order, with and without a type', async () => {
    // Short lists go through statements compiled once per length, long ones are built each time: both must store
    // exactly the valid entities, and a second list of the same length must reuse its statement correctly.
    for (const length of [1, 3, 3, 16, 17, 40]) {
      const entities = Array.from({ length }, (_, n) => (n % 2 ? { name: `Entity ${n}` } : { name: `Entity ${n}`, type: `kind-${n}` }));
      const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'entities_extracted', data: { entities } });
      const answer = await send(app, payload);
      expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
      const stored = app.db.prepare('SELECT name, type, position FROM entities WHERE channel_id = ? ORDER BY position').all(payload.channel_id);
      expect(stored).toEqual(entities.map((entity, position) => ({ name: entity.name, type: entity.type ?? null, position })));
      expect((sink.for(payload.channel_id as string)[0].body.data as Row).entities_validated).toBe(length);
    }
  });
  it('an unknown event passes the AI data through unchanged', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'poem_written', data: { poem: 'roses', n: [1, 2] } });
    const answer = await send(app, payload);
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'completed' });
    expect(sink.for(payload.channel_id as string)[0].body).toEqual({
      data: { poem: 'roses', n: [1, 2] },
      task_id: `task_${String(answer.delivery_id)}`,
      metadata: { delivery_id: answer.delivery_id, event: 'poem_written' },
    });
  });

  it('task.completed stores the result for the channel and sends no callback', async () => {
    const channelId = 'standard-workflow-1';
    const answer = await send(app, {
      type: 'task.completed',
      workflow: 'summariser',
      status: 'success',
      channel_id: channelId,
      data: { summary: 'short' },
      meta: { provider: 'p', model: 'm' },
      timestamp: 1764187200,
    });
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'completed', callback_status: 'not_required' });
    expect(app.db.prepare('SELECT workflow, status, data FROM task_results WHERE channel_id = ?').get(channelId)).toEqual({
      workflow: 'summariser',
      status: 'success',
      data: '{"summary":"short"}',
    });
    expect(sink.for(channelId)).toHaveLength(0);
  });

  it('a redelivery after completion produces no second callback and no second row', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url });
    const first = await send(app, payload);
    await settled(app, first.delivery_id);
    const again = await send(app, payload);
    expect(again).toMatchObject({ duplicate: true, delivery_id: first.delivery_id });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sink.for(payload.channel_id as string)).toHaveLength(1);
    expect(app.db.prepare('SELECT COUNT(*) AS n FROM contents WHERE channel_id = ?').get(payload.channel_id)).toEqual({ n: 1 });
  });

  it('a processor failing retryably twice, then succeeding, gives one success callback', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'flaky_test', data: { x: 1 } });
    const answer = await send(app, payload);
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'completed', attempts: 3, callback_status: 'delivered' });
    expect(app.app.get(FlakyTestProcessor).runs.get(payload.channel_id as string)).toBe(3);
    const callbacks = sink.for(payload.channel_id as string);
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0].body.data).toEqual({ x: 1, runs: 3 });
  });

  it('a permanent processor error gives one error callback and a dead delivery', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'broken_test' });
    const answer = await send(app, payload);
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'dead', attempts: 1, callback_status: 'error_sent' });
    expect(sink.for(payload.channel_id as string).map((r) => r.body)).toEqual([
      { error: 'processing_failed', message: 'the AI output cannot be used' },
    ]);
  });

  it('content_ready without a body is a permanent error: one error callback', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, data: { title: 'No body' } });
    const answer = await send(app, payload);
    expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'dead', callback_status: 'error_sent' });
    expect(sink.for(payload.channel_id as string).map((r) => r.body.error)).toEqual(['processing_failed']);
  });
});

describe('UNKNOWN_EVENT_POLICY=reject', () => {
  it('sends the error callback instead of passing the data through', async () => {
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ UNKNOWN_EVENT_POLICY: 'reject' });
    try {
      const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'poem_written' });
      const answer = await send(app, payload);
      expect(await settled(app, answer.delivery_id)).toMatchObject({ status: 'dead', callback_status: 'error_sent' });
      expect(sink.for(payload.channel_id as string).map((r) => r.body)).toEqual([
        { error: 'processing_failed', message: 'no processor for event poem_written' },
      ]);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});
