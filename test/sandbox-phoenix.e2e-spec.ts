import { Socket } from 'phoenix';
import { WebSocket } from 'ws';
import { BASE_TEST_ENV, waitFor } from './helpers/create-test-app';
import { SandboxTestApp, startSandboxApp } from './helpers/sandbox';

type Json = Record<string, unknown>;

interface Started {
  channel_id: string;
  ws_token: string;
  websocket_url: string;
  websocket_channel: string;
}

/** docs/protocol.md §5: append /socket unless the URL already ends with it; the client adds /websocket. */
const socketEndpoint = (websocketUrl: string) => (websocketUrl.endsWith('/socket') ? websocketUrl : `${websocketUrl}/socket`);

async function startOnSandbox(app: SandboxTestApp, prefix = '/v1', workflow = 'content_generator'): Promise<Started> {
  const response = await fetch(`${app.sandboxUrl}${prefix}/ai/async`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BASE_TEST_ENV.MODELRIVER_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow, messages: [{ role: 'user', content: 'Hello Phoenix from Node' }] }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as Started & Json;
  expect(body).toMatchObject({ message: 'success', status: 'pending', project_id: 'proj_sandbox' });
  expect(body.websocket_channel).toBe(`ai_response:proj_sandbox:${body.channel_id}`);
  return body;
}

async function reconnectToken(app: SandboxTestApp, channelId: string): Promise<Started> {
  const response = await fetch(`${app.sandboxUrl}/api/v1/ai/reconnect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BASE_TEST_ENV.MODELRIVER_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel_id: channelId }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Started;
}

/** A raw WebSocket speaking vsn 1.0.0 objects, collecting every frame. */
async function rawSocket(started: Started, vsn = '1.0.0'): Promise<{ ws: WebSocket; frames: unknown[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${socketEndpoint(started.websocket_url)}/websocket?token=${encodeURIComponent(started.ws_token)}&vsn=${vsn}`);
  const frames: unknown[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString())));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => undefined);
  });
}

describe('the sandbox speaks real Phoenix Channels', () => {
  let app: SandboxTestApp;

  beforeAll(async () => {
    // Enough model latency to connect and join before ai_generated is pushed (Phoenix does not replay).
    app = await startSandboxApp({ SANDBOX_LATENCY_MS: '500' });
  });
  afterAll(() => app.close());

  it('the official phoenix client (ws transport, vsn 2.0.0) joins, heartbeats and receives ai_generated then completed', async () => {
    const started = await startOnSandbox(app);
    const socket = new Socket(socketEndpoint(started.websocket_url), {
      transport: WebSocket as unknown as new (endpoint: string) => object,
      params: { token: started.ws_token },
      heartbeatIntervalMs: 100,
      reconnectAfterMs: () => 60_000,
    });
    const heartbeatReplies: unknown[] = [];
    let closeCode: number | undefined;
    socket.onMessage((raw: object) => {
      const message = raw as { topic: string; event: string; payload: unknown };
      if (message.topic === 'phoenix' && message.event === 'phx_reply') heartbeatReplies.push(message.payload);
    });
    socket.onClose((event) => {
      closeCode = event.code;
    });
    socket.connect();
    const responses: Json[] = [];
    let channelClosed = false;
    const channel = socket.channel(started.websocket_channel, {});
    channel.on('response', (payload: Json) => {
      responses.push(payload);
    });
    channel.onClose(() => {
      channelClosed = true;
    });
    const joined = await new Promise<string>((resolve) => {
      channel
        .join()
        .receive('ok', () => resolve('ok'))
        .receive('error', (reason: unknown) => resolve(`error ${JSON.stringify(reason)}`));
    });
    expect(joined).toBe('ok');
    try {
      await waitFor('the completed response', () => responses.find((r) => r.status === 'completed'));
      await waitFor('the server to close the socket', () => closeCode);
      expect(responses.map((r) => r.status)).toEqual(['ai_generated', 'completed']);
      expect(responses[0]).toMatchObject({ channel_id: started.channel_id, event_name: 'content_ready', meta: { duration_ms: 500 } });
      // The completed push carries what our backend processed and called back with.
      expect(responses[1]).toMatchObject({
        channel_id: started.channel_id,
        data: { processed: true, slug: 'hello-phoenix-from-node' },
        task_id: expect.stringMatching(/^task_/),
      });
      expect(heartbeatReplies.length).toBeGreaterThanOrEqual(1);
      expect(heartbeatReplies[0]).toEqual({ status: 'ok', response: {} });
      expect(channelClosed).toBe(true);
      expect(closeCode).toBe(1000);
    } finally {
      socket.disconnect();
    }
  });

  it('speaks vsn 1.0.0 objects too, on the /api/v1 prefix', async () => {
    const started = await startOnSandbox(app, '/api/v1');
    const { ws, frames, closed } = await rawSocket(started);
    ws.send(JSON.stringify({ topic: started.websocket_channel, event: 'phx_join', payload: {}, ref: '1' }));
    ws.send(JSON.stringify({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '2' }));
    ws.send(JSON.stringify({ topic: started.websocket_channel, event: 'heartbeat', payload: {}, ref: '3' }));
    expect(await closed).toBe(1000);
    expect(frames.slice(0, 3)).toEqual([
      { topic: started.websocket_channel, event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '1' },
      { topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '2' },
      { topic: started.websocket_channel, event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '3' },
    ]);
    const events = frames.slice(3) as Json[];
    expect(events.map((f) => [f.event, (f.payload as Json).status])).toEqual([
      ['response', 'ai_generated'],
      ['response', 'completed'],
      ['phx_close', undefined],
    ]);
  });

  it('ws_tokens are single use, and expire', async () => {
    const started = await startOnSandbox(app);
    const url = `${socketEndpoint(started.websocket_url)}/websocket?token=${started.ws_token}&vsn=2.0.0`;
    expect(await upgradeStatus(url)).toBe(101);
    expect(await upgradeStatus(url)).toBe(403);
    expect(await upgradeStatus(`${socketEndpoint(started.websocket_url)}/websocket?vsn=2.0.0`)).toBe(403);
    const fresh = await reconnectToken(app, started.channel_id);
    await app.control('/tokens/expire', {});
    expect(await upgradeStatus(`${socketEndpoint(fresh.websocket_url)}/websocket?token=${fresh.ws_token}&vsn=2.0.0`)).toBe(403);
  });

  it('refuses joins to another channel or a malformed topic', async () => {
    const started = await startOnSandbox(app);
    const { ws, frames } = await rawSocket(started, '2.0.0');
    ws.send(JSON.stringify(['1', '1', 'ai_response:proj_sandbox:someone-elses-channel', 'phx_join', {}]));
    ws.send(JSON.stringify(['2', '2', 'not-a-channel', 'phx_join', {}]));
    await waitFor('two replies', () => frames.length >= 2 || undefined);
    ws.close();
    expect(frames).toEqual([
      ['1', '1', 'ai_response:proj_sandbox:someone-elses-channel', 'phx_reply', { status: 'error', response: { reason: 'unauthorized_project_access' } }],
      ['2', '2', 'not-a-channel', 'phx_reply', { status: 'error', response: { reason: 'invalid_channel_format' } }],
    ]);
  });
});
