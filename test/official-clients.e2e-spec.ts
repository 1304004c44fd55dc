import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import { WebSocket } from 'ws';
import { signSubscriptionToken } from '../src/ai/subscription-token';
import { AppProcess, freePort, startAppProcess } from './helpers/app-process';
import { BASE_TEST_ENV, tempDir, waitFor } from './helpers/create-test-app';

type Json = Record<string, unknown>;
const TOKEN = 'api-token-for-official-clients-0123';

/**
 * The app as ModelRiver's official browser SDK (`@modelriver/client` 1.3.9) and the FastAPI guide's frontend
 * use it. The SDK is not in the registry here, so this plays its side exactly as it behaves:
 * - `reconnectWithBackend()` sends `POST {apiBaseUrl}/api/v1/ai/reconnect`, body `{"channel_id": …}`, with only
 *   `Content-Type: application/json` (it cannot add a header) and resumes only on a 2xx carrying
 *   `{channel_id, project_id, ws_token, websocket_url, websocket_channel}`;
 * - it then joins the channel with the official `phoenix` client (over `ws`, as on Node);
 * - it reads an error push as `payload.error?.message`, showing "Unknown error" otherwise.
 * The app runs as a process (the production start) so its log can be read for ERROR lines.
 */
async function startApp(env: Record<string, string>): Promise<AppProcess & { sandboxUrl: string }> {
  const sandboxPort = await freePort();
  const app = await startAppProcess({
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    MODELRIVER_SANDBOX: 'true',
    SANDBOX_PORT: String(sandboxPort),
    SANDBOX_TIME_FACTOR: '0.001',
    SANDBOX_LATENCY_MS: '400',
    ...env,
  });
  return Object.assign(app, { sandboxUrl: `http://127.0.0.1:${sandboxPort}` });
}

const errorLines = (app: AppProcess) =>
  app
    .output()
    .split('\n')
    .filter((line) => /"level":(50|60)/.test(line));

async function generate(app: AppProcess, body: Json, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

/** What the SDK's reconnectWithBackend() does: nothing more, nothing less. */
async function sdkReconnect(apiBaseUrl: string, channelId: unknown) {
  const response = await fetch(`${apiBaseUrl}/api/v1/ai/reconnect`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel_id: channelId }),
  });
  const body = (await response.json()) as Json;
  const resumable =
    response.ok && ['channel_id', 'project_id', 'ws_token', 'websocket_url', 'websocket_channel'].every((field) => typeof body[field] === 'string');
  return { status: response.status, body, resumable };
}

/** The SDK's connection: the official phoenix client, joining the channel with the token; every `response` push. */
async function sdkFollow(fields: Json): Promise<{ pushes: Json[]; socket: Socket }> {
  const url = String(fields.websocket_url);
  const socket = new Socket(url.endsWith('/socket') ? url : `${url}/socket`, {
    transport: WebSocket as unknown as new (endpoint: string) => object,
    params: { token: fields.ws_token },
    reconnectAfterMs: () => 2 ** 30,
  });
  const pushes: Json[] = [];
  const channel = socket.channel(String(fields.websocket_channel), {});
  channel.on('response', (payload: Json) => void pushes.push(payload));
  socket.connect();
  await new Promise<void>((resolve, reject) => {
    channel
      .join()
      .receive('ok', () => resolve())
      .receive('error', (reason: unknown) => reject(new Error(`join refused: ${JSON.stringify(reason)}`)));
  });
  return { pushes, socket };
}

/** How the SDK shows an error push. */
const sdkErrorMessage = (payload: Json) => (payload.error as { message?: string } | undefined)?.message ?? 'Unknown error';

describe('ModelRiver browser SDK, direct mode, with API_TOKENS set', () => {
  let app: AppProcess & { sandboxUrl: string };
  beforeAll(async () => {
    app = await startApp({ AI_REALTIME_MODE: 'direct', API_TOKENS: TOKEN });
  });
  afterAll(() => app.kill('SIGTERM'));

  it('resumes after a page reload: reconnect needs no token, joins with the fresh ws_token, follows to completion', async () => {
    const started = await generate(app, { prompt: 'Resume me after a reload' }, { authorization: `Bearer ${TOKEN}` });
    // The page reloads: the SDK's stored ws_token is spent; it asks our backend for a fresh one.
    const resumed = await sdkReconnect(app.url, started.channel_id);
    expect(resumed).toMatchObject({ status: 200, resumable: true, body: { channel_id: started.channel_id, project_id: 'proj_sandbox' } });
    expect(resumed.body.ws_token).not.toBe(started.ws_token);
    const { pushes, socket } = await sdkFollow(resumed.body);
    try {
      await waitFor('the completed push', () => pushes.find((p) => p.status === 'completed'));
      expect(pushes.map((p) => p.status)).toContain('completed');
    } finally {
      socket.disconnect();
    }
  });

  it('cannot resume a finished request (410, a clear reason), an unknown one (404), and logs no error for either', async () => {
    const started = await generate(app, { prompt: 'Finish first' }, { authorization: `Bearer ${TOKEN}` });
    await waitFor('the request to complete', async () => {
      const view = (await (await fetch(`${app.url}/ai/requests/${String(started.channel_id)}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Json;
      return view.status === 'completed' ? view : undefined;
    });
    const finished = await sdkReconnect(app.url, started.channel_id);
    expect(finished).toMatchObject({ status: 410, resumable: false });
    expect(finished.body.message).toContain('has completed');
    expect(await sdkReconnect(app.url, 'ffffffff-ffff-4fff-8fff-ffffffffffff')).toMatchObject({ status: 404, resumable: false });
    expect(errorLines(app)).toEqual([]);
  });

  it('shows the real reason of an error push, not "Unknown error"', async () => {
    await fetch(`${app.sandboxUrl}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ unusable_output: true }),
    });
    const started = await generate(app, { prompt: 'This one cannot be used' }, { authorization: `Bearer ${TOKEN}` });
    const { pushes, socket } = await sdkFollow(started);
    try {
      const error = await waitFor('the error push', () => pushes.find((p) => p.status === 'error'));
      expect(sdkErrorMessage(error)).not.toBe('Unknown error');
      expect(sdkErrorMessage(error)).toContain('content_ready needs ai_response.data.title');
    } finally {
      socket.disconnect();
    }
  });
});

describe("the FastAPI guide's plain WebSocket route: GET /ws/ai/:channel_id?token=…", () => {
  let app: AppProcess;
  beforeAll(async () => {
    app = await startApp({});
  });
  afterAll(() => app.kill('SIGTERM'));

  const listen = (url: string) => {
    const ws = new WebSocket(url);
    const frames: Json[] = [];
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Json));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    return { frames, closed };
  };
  const wsUrl = (channelId: unknown, token: string) => `${app.url.replace(/^http/, 'ws')}/ws/ai/${String(channelId)}?token=${encodeURIComponent(token)}`;

  it('sends the latest state, then ModelRiver’s responses and our events as JSON, and closes 1000 after the terminal one', async () => {
    const started = await generate(app, { prompt: 'Follow me over a plain socket' });
    const { frames, closed } = listen(wsUrl(started.channel_id, (started.realtime as Json).subscribe_token as string));
    expect(await closed).toMatchObject({ code: 1000 });
    expect(frames[0]).toMatchObject({ event: 'state', channel_id: started.channel_id });
    const responses = frames.filter((f) => f.event === undefined);
    expect(responses.at(-1)).toMatchObject({ status: 'completed', channel_id: started.channel_id, data: { processed: true } });
    expect(frames.some((f) => f.event === 'ai:processed')).toBe(true);
  });

  it('a late listener gets the final state and is closed 1000 at once', async () => {
    const started = await generate(app, { prompt: 'Done before you came' });
    await waitFor('completion', async () => ((await (await fetch(`${app.url}/ai/requests/${String(started.channel_id)}`)).json()) as Json).status === 'completed' || undefined);
    const { frames, closed } = listen(wsUrl(started.channel_id, (started.realtime as Json).subscribe_token as string));
    expect(await closed).toMatchObject({ code: 1000 });
    expect(frames).toEqual([expect.objectContaining({ event: 'state', status: 'completed', result: expect.objectContaining({ processed: true }) })]);
  });

  describe('pings (REALTIME_PING_INTERVAL_MS), so that no proxy sees a quiet listener idle', () => {
    let pinging: AppProcess;
    // Its own database file: the app of the tests around it holds the default one.
    const dir = tempDir('mr-ping-');
    beforeAll(async () => {
      pinging = await startApp({ REALTIME_PING_INTERVAL_MS: '200', DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    });
    afterAll(async () => {
      await pinging.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    });
    // A channel nothing happens on: the listener stays, with nothing to send it.
    const quiet = () => {
      const channel = `quiet-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const token = signSubscriptionToken(channel, new Date(Date.now() + 60_000), BASE_TEST_ENV.REALTIME_TOKEN_SECRET);
      return `${pinging.url.replace(/^http/, 'ws')}/ws/ai/${channel}?token=${encodeURIComponent(token)}`;
    };

    it('a listener that answers (as browsers do by themselves) is pinged every interval and stays', async () => {
      const ws = new WebSocket(quiet());
      let pings = 0;
      ws.on('ping', () => pings++);
      try {
        await waitFor('five pings', () => pings >= 5, 5000);
        expect(ws.readyState).toBe(WebSocket.OPEN);
      } finally {
        ws.terminate();
      }
    });

    it('a listener that stops answering is closed after the next ping', async () => {
      const ws = new WebSocket(quiet(), { autoPong: false });
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      let pings = 0;
      ws.on('ping', () => pings++);
      // Bounded: two intervals and some room for a slow machine.
      expect(await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 3000))])).toBe(1006);
      expect(pings).toBeGreaterThanOrEqual(1);
    });
  });

  it.each<[string, (channel: string) => string]>([
    ['a missing token', () => ''],
    ['a forged token', () => `v1.${Math.floor(Date.now() / 1000) + 600}.${'0'.repeat(64)}`],
    ['an expired token', (channel) => signSubscriptionToken(channel, new Date(Date.now() - 1000), BASE_TEST_ENV.REALTIME_TOKEN_SECRET)],
    ["another channel's token", () => signSubscriptionToken('another-channel', new Date(Date.now() + 60_000), BASE_TEST_ENV.REALTIME_TOKEN_SECRET)],
  ])('%s: closed 1008 without any data', async (_name, token) => {
    const started = await generate(app, { prompt: 'Not for you' });
    const { frames, closed } = listen(wsUrl(started.channel_id, token(String(started.channel_id))));
    expect((await closed).code).toBe(1008);
    expect(frames).toEqual([]);
  });
});
