/**
 * A template for testing your own processor (README, "Add your own processor"). Copy this file, put your processor
 * where the example's is, and keep the three checks: the callback carries your result, a redelivery does not run it
 * twice, and bad AI output ends with the error callback instead of retries.
 *
 * The example processor lives here so the template runs as it is; yours lives in src/event-handlers/processors/,
 * is listed in EventHandlersModule and routed in EVENT_ROUTES, and then needs no `imports` below.
 */
import { Injectable, Module } from '@nestjs/common';
import { JsonObject } from '../src/common/json';
import { ModelRiverEvent } from '../src/event-handlers/events/modelriver-event';
import { PermanentProcessingError } from '../src/event-handlers/processing.errors';
import { EventProcessor, ProcessesEvent } from '../src/event-handlers/processors/event-processor';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

/** Example: `summary_ready` → the summary with its word count and reading time. Pure, hence idempotent. */
@Injectable()
@ProcessesEvent('modelriver.task.ai_generated.summary_ready')
class SummaryReadyProcessor implements EventProcessor {
  process(event: ModelRiverEvent): Promise<JsonObject> {
    const summary = event.aiData.summary;
    if (typeof summary !== 'string' || summary.trim() === '') {
      // No retry can fix the model's output: the error callback goes out at once.
      return Promise.reject(new PermanentProcessingError('summary is missing from the AI output'));
    }
    const words = summary.trim().split(/\s+/).length;
    return Promise.resolve({ ...event.aiData, word_count: words, reading_minutes: Math.max(1, Math.round(words / 200)) });
  }
}

@Module({ providers: [SummaryReadyProcessor] })
class ExampleProcessorModule {}

describe('example processor (template)', () => {
  let app: TestApp;
  let sink: CallbackSink;

  const send = async (payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    expect(response.status).toBe(200);
    return ((await response.json()) as { delivery_id: string }).delivery_id;
  };
  const settled = (id: string) =>
    waitFor(`delivery ${id} to settle`, () => {
      const row = app.db.prepare('SELECT status, callback_status, result, attempts FROM webhook_deliveries WHERE id = ?').get(id) as Record<string, unknown>;
      return row.status === 'completed' || row.status === 'dead' ? row : undefined;
    });

  beforeAll(async () => {
    sink = await new CallbackSink().start();
    app = await startTestApp({}, { imports: [ExampleProcessorModule] });
  });
  afterAll(async () => {
    await app.close();
    await sink.close();
  });

  it('calls ModelRiver back with the processed result', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'summary_ready', data: { summary: 'Ada wrote the first program.' } });
    const id = await send(payload);
    expect(await settled(id)).toMatchObject({ status: 'completed', callback_status: 'delivered' });
    const [callback] = sink.for(payload.channel_id as string);
    expect(callback.body).toMatchObject({ data: { summary: 'Ada wrote the first program.', word_count: 5, reading_minutes: 1 } });
  });

  it('runs once for a redelivered webhook (ModelRiver retries until it hears 2xx)', async () => {
    const runs = jest.spyOn(app.app.get(SummaryReadyProcessor), 'process');
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'summary_ready', data: { summary: 'Twice sent, once run.' } });
    const first = await send(payload);
    expect(await send(payload)).toBe(first);
    await settled(first);
    expect(runs).toHaveBeenCalledTimes(1);
    runs.mockRestore();
    expect(sink.for(payload.channel_id as string)).toHaveLength(1);
  });

  it('bad AI output: dead at once with the error callback, no retries', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url, event: 'summary_ready', data: { text: 'no summary field' } });
    const id = await send(payload);
    expect(await settled(id)).toMatchObject({ status: 'dead', callback_status: 'error_sent', result: null, attempts: 1 });
    expect(sink.for(payload.channel_id as string).map((request) => request.body)).toEqual([
      { error: 'processing_failed', message: 'summary is missing from the AI output' },
    ]);
  });
});
