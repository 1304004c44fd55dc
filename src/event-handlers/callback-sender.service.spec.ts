import { getEventListeners } from 'node:events';
import { CallbackConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { CallbackAttemptsRepository } from '../deliveries/callback-attempts.repository';
import { CallbackSender, CallbackTarget, CheckedTarget, SendContext } from './callback-sender.service';
import { CallbackResponse, ModelRiverCallbackClient } from '../modelriver/modelriver-callback.client';

const delivered: CallbackResponse = { outcome: 'delivered', statusCode: 200, durationMs: 1, error: null, retryAfterMs: null };
const target: CallbackTarget = {
  deliveryId: 'd-1',
  channelId: 'ch_1',
  callbackUrl: 'https://api.modelriver.com/api/v1/callback/ch_1',
  receivedAt: Date.now(),
};

/** The target as a run hands it over: checked once, before any work. */
function checkedBy(sender: CallbackSender, unchecked: CallbackTarget = target): CheckedTarget {
  const checked = sender.check(unchecked);
  if (!checked.ok) throw new Error(checked.reason);
  return checked.target;
}

describe('CallbackSender', () => {
  let posted: unknown[];
  let postedTo: string[];
  let sender: CallbackSender;

  beforeEach(() => {
    posted = [];
    postedTo = [];
    const client = { post: (url: URL, body: unknown) => (postedTo.push(url.href), posted.push(body), Promise.resolve(delivered)) };
    const attempts = { record: () => Promise.resolve() };
    const config = { allowHttp: false, allowedHosts: ['api.modelriver.com'], timeoutMs: 1000, budgetMs: 300_000, retryBaseMs: 10, retryMaxMs: 100 };
    const metrics = { callbacks: { inc: () => undefined } };
    sender = new CallbackSender(
      client as unknown as ModelRiverCallbackClient,
      attempts as unknown as CallbackAttemptsRepository,
      config as unknown as CallbackConfig,
      metrics as unknown as MetricsService,
    );
  });

  const context = (persisted: () => Promise<void>): SendContext => ({
    draining: new AbortController().signal,
    signal: new AbortController().signal,
    persisted,
  });

  it('sends nothing until what the job wrote is durable', async () => {
    let durable!: () => void;
    const sent = sender.sendResult(checkedBy(sender), { ok: true }, 'content_ready', context(() => new Promise((resolve) => (durable = resolve))));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(posted).toEqual([]);
    durable();
    await expect(sent).resolves.toMatchObject({ status: 'delivered' });
    expect(posted).toHaveLength(1);
  });

  it('checks the URL once: a refused target gets a reason and no send; a checked one goes to the URL it parsed', async () => {
    const refused = sender.check({ ...target, callbackUrl: 'http://api.modelriver.com/api/v1/callback/ch_1' });
    expect(refused).toEqual({ ok: false, reason: 'callback_url scheme http is not allowed' });
    expect(sender.check({ ...target, callbackUrl: 'https://elsewhere.example/api/v1/callback/ch_1' })).toMatchObject({ ok: false });
    await expect(sender.sendError({ ...target, callbackUrl: 'https://api.modelriver.com/api/v1/callback/other' }, 'boom', context(() => Promise.resolve()))).resolves.toEqual({
      status: 'refused',
      reason: 'callback_url does not end with the delivery channel_id',
    });
    expect(posted).toEqual([]);
    await expect(sender.sendResult(checkedBy(sender), { ok: true }, 'content_ready', context(() => Promise.resolve()))).resolves.toMatchObject({ status: 'delivered' });
    expect(postedTo).toEqual([target.callbackUrl]);
  });

  it('sends no result when some of it may have been lost: the job fails and runs again', async () => {
    const lost = new Error('a commit failed after this work began');
    await expect(sender.sendResult(checkedBy(sender), { ok: true }, 'content_ready', context(() => Promise.reject(lost)))).rejects.toBe(lost);
    expect(posted).toEqual([]);
  });

  it('sends the error callback even then: it reports nothing stored, and the user must hear', async () => {
    const persisted = jest.fn(() => Promise.reject(new Error('a commit failed after this work began')));
    await expect(sender.sendError(target, 'boom', context(persisted))).resolves.toMatchObject({ status: 'delivered' });
    expect(posted).toEqual([{ error: 'processing_failed', message: 'boom' }]);
    expect(persisted).not.toHaveBeenCalled();
  });

  it('leaves no listener on the shared shutdown signal after waiting between attempts', async () => {
    const failing: CallbackResponse = { outcome: 'retryable', statusCode: 503, durationMs: 1, error: 'callback answered 503', retryAfterMs: null };
    const replies = [failing, failing, failing, failing, delivered];
    const client = { post: () => Promise.resolve(replies.shift()!) };
    const config = { allowHttp: false, allowedHosts: ['api.modelriver.com'], timeoutMs: 1000, budgetMs: 300_000, retryBaseMs: 1, retryMaxMs: 2 };
    const retrying = new CallbackSender(
      client as unknown as ModelRiverCallbackClient,
      { record: () => Promise.resolve() } as unknown as CallbackAttemptsRepository,
      config as unknown as CallbackConfig,
      { callbacks: { inc: () => undefined } } as unknown as MetricsService,
    );
    const draining = new AbortController().signal;
    const sent = await retrying.sendResult(checkedBy(retrying), { ok: true }, 'content_ready', { draining, signal: new AbortController().signal, persisted: () => Promise.resolve() });
    expect(sent).toMatchObject({ status: 'delivered' });
    expect(replies).toEqual([]);
    expect(getEventListeners(draining, 'abort')).toHaveLength(0);
  });
});
