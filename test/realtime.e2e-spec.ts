import { io, Socket } from 'socket.io-client';
import { signSubscriptionToken } from '../src/ai/subscription-token';
import { BASE_TEST_ENV, waitFor } from './helpers/create-test-app';
import { SandboxTestApp, startSandboxApp } from './helpers/sandbox';

type Json = Record<string, unknown>;
const EVENTS = ['ai:response', 'ai:processing', 'ai:processed', 'ai:error'];

interface Client {
  socket: Socket;
  received: { event: string; payload: Json }[];
  subscribe(channelId: string, token: string): Promise<Json>;
}

async function connect(app: SandboxTestApp): Promise<Client> {
  const socket = io(`${app.url}/ai`, { transports: ['websocket'], reconnection: false });
  const received: Client['received'] = [];
  for (const event of EVENTS) socket.on(event, (payload: Json) => received.push({ event, payload }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    socket,
    received,
    subscribe: (channelId, token) => socket.timeout(5000).emitWithAck('subscribe', { channel_id: channelId, subscribe_token: token }) as Promise<Json>,
  };
}

const tokenFor = (channelId: string, expiresAt = new Date(Date.now() + 60_000)) =>
  signSubscriptionToken(channelId, expiresAt, BASE_TEST_ENV.REALTIME_TOKEN_SECRET);

describe('realtime gateway (socket.io /ai) with the upstream relay', () => {
  let app: SandboxTestApp;
  const clients: Client[] = [];
  const client = async () => {
    const c = await connect(app);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    app = await startSandboxApp({ SANDBOX_LATENCY_MS: '300', REALTIME_MAX_SUBSCRIPTIONS_PER_SOCKET: '3' });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.socket.close();
  });
  afterAll(() => app.close());

  const generate = async (body: Json = { prompt: 'Realtime Ada Lovelace' }) => {
    const answer = await app.generate(body);
    expect(answer.status).toBe(200);
    return answer.body as { channel_id: string; realtime: { namespace: string; subscribe_token: string; expires_at: string } };
  };

  it('/ai/generate says how to subscribe', async () => {
    const started = await generate();
    expect(started.realtime).toEqual({ namespace: '/ai', subscribe_token: expect.stringMatching(/^v1\.\d+\.[0-9a-f]{64}$/), expires_at: expect.any(String) });
    expect(started).not.toHaveProperty('ws_token');
  });

  it('subscribe right after generate: every step arrives, in order, ending completed', async () => {
    const started = await generate();
    const c = await client();
    const ack = await c.subscribe(started.channel_id, started.realtime.subscribe_token);
    expect(ack).toMatchObject({ ok: true, state: { channel_id: started.channel_id, status: expect.any(String) } });
    await waitFor('the completed response', () => c.received.find((r) => r.event === 'ai:response' && r.payload.status === 'completed'));
    const steps = c.received.map((r) => (r.event === 'ai:response' ? `response:${String(r.payload.status)}` : r.event));
    expect(steps).toEqual(['response:ai_generated', 'ai:processing', 'ai:processed', 'response:completed']);
    const seqs = c.received.map((r) => r.payload.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(c.received.every((r) => r.payload.channel_id === started.channel_id)).toBe(true);
    const processed = c.received.find((r) => r.event === 'ai:processed')!.payload;
    expect(processed).toMatchObject({ status: 'completed', callback_status: 'delivered', result: { processed: true, slug: expect.stringMatching(/^realtime-ada-lovelace/) } });
  });

  it('subscribe after completion: the final state is replayed in the acknowledgement', async () => {
    const started = await generate({ prompt: 'Late subscriber' });
    await app.waitForStatus(started.channel_id, ['completed']);
    await waitFor('the upstream completed push', async () =>
      ((await app.control(`/requests/${started.channel_id}`)).pushes as Json[]).length === 2 || undefined,
    );
    const c = await client();
    const ack = await c.subscribe(started.channel_id, started.realtime.subscribe_token);
    expect(ack).toMatchObject({
      ok: true,
      state: {
        status: 'completed',
        result: { slug: 'late-subscriber', processed: true },
        last_response: { status: 'completed' },
        callback: { status: 'delivered' },
      },
    });
    // Nobody listened while it ran: ModelRiver's two pushes were recorded (and numbered) for late subscribers;
    // our own progress was not published (the stored view above carries it), so it took no numbers.
    expect((ack.state as Json).seq).toBe(2);
  });

  it('refuses forged, expired, foreign and malformed subscriptions', async () => {
    const started = await generate({ prompt: 'Guarded' });
    const c = await client();
    expect(await c.subscribe(started.channel_id, `v1.${Math.floor(Date.now() / 1000) + 600}.${'a'.repeat(64)}`)).toEqual({ ok: false, error: 'invalid_token' });
    expect(await c.subscribe(started.channel_id, tokenFor(started.channel_id, new Date(Date.now() - 1000)))).toEqual({ ok: false, error: 'expired_token' });
    expect(await c.subscribe(started.channel_id, tokenFor('another-channel'))).toEqual({ ok: false, error: 'invalid_token' });
    expect(await c.socket.timeout(5000).emitWithAck('subscribe', { channel_id: started.channel_id })).toEqual({
      ok: false,
      error: 'channel_id and subscribe_token are required',
    });
    expect(await c.socket.timeout(5000).emitWithAck('subscribe', 'nonsense')).toMatchObject({ ok: false });
    await app.waitForStatus(started.channel_id, ['completed']);
    expect(c.received).toHaveLength(0);
  });

  it('two clients on one channel get the same events', async () => {
    const started = await generate({ prompt: 'Shared channel' });
    const [a, b] = [await client(), await client()];
    await a.subscribe(started.channel_id, started.realtime.subscribe_token);
    await b.subscribe(started.channel_id, started.realtime.subscribe_token);
    const done = (c: Client) => c.received.find((r) => r.event === 'ai:response' && r.payload.status === 'completed');
    await waitFor('both completed', () => (done(a) && done(b)) || undefined);
    const view = (c: Client) => c.received.map((r) => `${r.event}#${String(r.payload.seq)}`);
    expect(view(a)).toEqual(view(b));
    expect(view(a).length).toBe(4);
  });

  it('limits subscriptions per socket', async () => {
    const c = await client();
    for (const n of [1, 2, 3]) expect(await c.subscribe(`limit-${n}`, tokenFor(`limit-${n}`))).toMatchObject({ ok: true });
    expect(await c.subscribe('limit-4', tokenFor('limit-4'))).toEqual({ ok: false, error: 'too_many_subscriptions' });
    expect(await c.subscribe('limit-1', tokenFor('limit-1'))).toMatchObject({ ok: true }); // re-subscribing is not a new one
  });

  it('a failure reaches subscribers with a readable reason: our processing error, then ModelRiver\'s error push in either shape', async () => {
    await app.control('/faults', { unusable_output: true });
    const started = await generate({ prompt: 'Nothing usable' });
    const c = await client();
    await c.subscribe(started.channel_id, started.realtime.subscribe_token);
    await waitFor('ModelRiver\'s error push', () => c.received.find((r) => r.event === 'ai:response' && r.payload.status === 'error'));
    const errors = await waitFor('both error events', () => {
      const found = c.received.filter((r) => r.event === 'ai:error').map((r) => r.payload);
      return found.length === 2 ? found : undefined;
    });
    const reason = 'content_ready needs ai_response.data.title';
    expect(errors).toEqual([
      expect.objectContaining({ source: 'processing', status: 'failed', error: expect.stringContaining(reason) }),
      expect.objectContaining({ source: 'upstream', error: expect.stringContaining(reason) }),
    ]);
    // ModelRiver's push itself is relayed as it came: the SDK's shape, {error: {message}}.
    const push = c.received.find((r) => r.event === 'ai:response' && r.payload.status === 'error')!.payload;
    expect((push.error as Json).message).toEqual(expect.stringContaining(reason));
  });

  it('keeps the upstream while someone listens, and closes it when the last subscriber leaves after the request ended', async () => {
    // The expired window makes our processing fail while ModelRiver keeps its socket open: only we can close it.
    await app.control('/faults', { callback_window_expired: true });
    const started = await generate({ prompt: 'Window closes' });
    const c = await client();
    await c.subscribe(started.channel_id, started.realtime.subscribe_token);
    await waitFor('the error event', () => c.received.find((r) => r.event === 'ai:error'));
    expect(c.received.find((r) => r.event === 'ai:error')!.payload).toMatchObject({ status: 'failed', error: expect.stringContaining('410') });
    const joined = async () => (await app.control(`/requests/${started.channel_id}`)).joined_sockets as number;
    expect(await joined()).toBe(1);
    c.socket.close();
    await waitFor('the upstream to close', async () => ((await joined()) === 0 ? true : undefined));
  });
});

describe('direct realtime mode (AI_REALTIME_MODE=direct)', () => {
  let app: SandboxTestApp;

  beforeAll(async () => {
    app = await startSandboxApp({ AI_REALTIME_MODE: 'direct' });
  });
  afterAll(() => app.close());

  it('returns what ModelRiver’s browser SDK needs, opens no upstream, and relays reconnect', async () => {
    const answer = await app.generate({ prompt: 'Direct mode' });
    expect(answer.body).toMatchObject({
      ws_token: expect.stringMatching(/^wst_/),
      websocket_url: `${app.sandboxUrl.replace('http', 'ws')}/socket`,
      websocket_channel: `ai_response:proj_sandbox:${String(answer.body.channel_id)}`,
      realtime: { namespace: '/ai' },
    });
    const reconnect = await fetch(`${app.url}/api/v1/ai/reconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel_id: answer.body.channel_id }),
    });
    expect(reconnect.status).toBe(200);
    const fresh = (await reconnect.json()) as Json;
    expect(fresh).toMatchObject({ channel_id: answer.body.channel_id, ws_token: expect.stringMatching(/^wst_/), project_id: 'proj_sandbox' });
    expect(fresh.ws_token).not.toBe(answer.body.ws_token);
    await app.waitForStatus(answer.body.channel_id as string, ['completed']);
    expect((await app.control(`/requests/${String(answer.body.channel_id)}`)).upstream_events).toEqual([]);
  });

  it.each<[string, unknown, number]>([
    ['an unknown channel', { channel_id: 'unknown-channel' }, 404],
    ['no channel_id', {}, 400],
    ['a non-string channel_id', { channel_id: 7 }, 400],
  ])('reconnect with %s → %p', async (_name, body, status) => {
    const response = await fetch(`${app.url}/api/v1/ai/reconnect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(status);
  });
});

describe('reconnect outside direct mode', () => {
  it('is not served (404)', async () => {
    const app = await startSandboxApp();
    try {
      const answer = await app.generate({ prompt: 'Gateway mode' });
      const response = await fetch(`${app.url}/api/v1/ai/reconnect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel_id: answer.body.channel_id }),
      });
      expect(response.status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
