import Fastify from 'fastify';
import { installWebhookIntakeHooks } from './webhook-route';

describe('webhook intake gate', () => {
  const start = async (draining: boolean) => {
    const rejected: string[] = [];
    const fastify = Fastify();
    installWebhookIntakeHooks(fastify, { maxBodyBytes: 1024, onReject: (reason) => rejected.push(reason), draining: () => draining });
    let handled = 0;
    fastify.post('/hook', { config: { webhookIntake: true } }, () => {
      handled++;
      return { ok: true };
    });
    await fastify.ready();
    const send = () => fastify.inject({ method: 'POST', url: '/hook', headers: { 'content-type': 'application/json' }, payload: '{}' });
    return { fastify, send, rejected, handled: () => handled };
  };

  it('while draining: 503 with Retry-After and Connection: close, and the handler never runs', async () => {
    const { fastify, send, rejected, handled } = await start(true);
    const answer = await send();
    expect(answer.statusCode).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.headers.connection).toBe('close');
    expect(rejected).toEqual(['draining']);
    expect(handled()).toBe(0);
    await fastify.close();
  });

  it('otherwise the request reaches the handler on a connection that stays open', async () => {
    const { fastify, send, rejected, handled } = await start(false);
    const answer = await send();
    expect(answer.statusCode).toBe(200);
    expect(answer.headers.connection).not.toBe('close');
    expect(rejected).toEqual([]);
    expect(handled()).toBe(1);
    await fastify.close();
  });
});
