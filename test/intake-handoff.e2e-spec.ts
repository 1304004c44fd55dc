import { ClaimedDelivery, DeliveryStateRepository } from '../src/deliveries/delivery-state.repository';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

type Row = Record<string, unknown>;

async function send(app: TestApp, payload: unknown): Promise<{ delivery_id: string; duplicate: boolean }> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
  expect(response.status).toBe(200);
  return (await response.json()) as { delivery_id: string; duplicate: boolean };
}

const delivery = (app: TestApp, id: string) => app.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as Row;

const completed = (app: TestApp, id: string) =>
  waitFor(`delivery ${id} to complete`, () => (delivery(app, id)?.status === 'completed' ? delivery(app, id) : undefined));

/** Records the ids of the deliveries the queue's claim statement took, in the order it took them. */
function watchClaims(app: TestApp): { ids(): Promise<string[]>; restore(): void } {
  const state = app.app.get(DeliveryStateRepository);
  const spy = jest.spyOn(state, 'claimDue');
  return {
    async ids() {
      const batches = await Promise.all(spy.mock.results.map((result) => result.value as Promise<ClaimedDelivery[]>));
      return batches.flat().map((claim) => claim.deliveryId);
    },
    restore: () => spy.mockRestore(),
  };
}

describe('intake hands a delivery straight to a free worker slot (embedded)', () => {
  describe('with free slots', () => {
    let app: TestApp;
    let sink: CallbackSink;

    beforeAll(async () => {
      sink = await new CallbackSink().start();
      app = await startTestApp();
    });
    afterAll(async () => {
      await app.close();
      await sink.close();
    });

    it('inserts the delivery already claimed and runs it without the claim statement, once', async () => {
      const claims = watchClaims(app);
      try {
        const payload = aiGeneratedPayload({ callbackBase: sink.url });
        const answer = await send(app, payload);
        expect(answer.duplicate).toBe(false);
        const row = await completed(app, answer.delivery_id);
        expect(row).toMatchObject({ attempts: 1, callback_status: 'delivered', lease_token: null, lease_until: null });
        expect(sink.for(payload.channel_id as string)).toHaveLength(1);
        expect(await claims.ids()).not.toContain(answer.delivery_id);
      } finally {
        claims.restore();
      }
    });

    it('a redelivery of a handed-over delivery answers its id and runs nothing again', async () => {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const [first, second] = await Promise.all([send(app, payload), send(app, payload)]);
      expect(second.delivery_id).toBe(first.delivery_id);
      expect([first.duplicate, second.duplicate].sort()).toEqual([false, true]);
      expect(await completed(app, first.delivery_id)).toMatchObject({ attempts: 1 });
      expect(app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE channel_id = ?').get(payload.channel_id)).toEqual({ n: 1 });
      // Give a wrong second run time to show itself.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sink.for(payload.channel_id as string)).toHaveLength(1);
    });
  });

  describe('with every slot taken', () => {
    let app: TestApp;
    let sink: CallbackSink;

    beforeAll(async () => {
      // One slot, and callbacks slow enough that it stays taken while the next deliveries arrive.
      sink = await new CallbackSink({ delayMs: 400 }).start();
      app = await startTestApp({ QUEUE_CONCURRENCY: '1' });
    });
    afterAll(async () => {
      await app.close();
      await sink.close();
    });

    it('stores later deliveries queued, and the queue claims them in the order they came', async () => {
      const claims = watchClaims(app);
      try {
        const payloads = [0, 1, 2].map(() => aiGeneratedPayload({ callbackBase: sink.url }));
        const first = await send(app, payloads[0]);
        const second = await send(app, payloads[1]);
        const third = await send(app, payloads[2]);
        expect(delivery(app, second.delivery_id).status).toBe('queued');
        expect(delivery(app, third.delivery_id).status).toBe('queued');

        for (const answer of [first, second, third]) await completed(app, answer.delivery_id);
        const claimed = await claims.ids();
        expect(claimed).not.toContain(first.delivery_id);
        expect(claimed.filter((id) => id === second.delivery_id || id === third.delivery_id)).toEqual([second.delivery_id, third.delivery_id]);
        for (const payload of payloads) expect(sink.for(payload.channel_id as string)).toHaveLength(1);
        const order = sink.requests.filter((request) => payloads.some((p) => p.channel_id === request.channelId)).map((request) => request.channelId);
        expect(order).toEqual(payloads.map((p) => p.channel_id));
      } finally {
        claims.restore();
      }
    });
  });
});
