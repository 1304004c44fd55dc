import { startTestApp, TestApp, waitFor } from './helpers/create-test-app';
import { SandboxTestApp, startSandboxApp } from './helpers/sandbox';

type Json = Record<string, unknown>;

const sandboxRequest = (app: SandboxTestApp, channelId: string) => app.control<Json>(`/requests/${channelId}`);
/** The sandbox records redeliveries on its own clock: wait until it has made `n` webhook attempts. */
const afterAttempts = (app: SandboxTestApp, channelId: string, n: number) =>
  waitFor(`${n} webhook attempts`, async () => {
    const seen = await sandboxRequest(app, channelId);
    return (seen.webhook_attempts as Json[]).length >= n ? seen : undefined;
  });
const aiRequestCount = (app: SandboxTestApp) => (app.db.prepare('SELECT COUNT(*) AS n FROM ai_requests').get() as { n: number }).n;

describe('POST /ai/generate → sandbox → webhook → processor → callback (offline, end to end)', () => {
  let app: SandboxTestApp;

  beforeAll(async () => {
    // A high rate limit: this suite sends many requests from one client (the limit has tests of its own).
    app = await startSandboxApp({ AI_REQUEST_TIMEOUT_MS: '500', AI_GENERATE_RATE_LIMIT: '1000' });
  });
  afterAll(() => app.close());

  it.each(['raw', 'ts_raw', 'ts_data', 'json'])('content_generator with webhooks signed %s completes with the stored slug', async (scheme) => {
    await app.control('/faults', { signature_scheme: scheme });
    const started = await app.generate({ prompt: `Write about Rivers in spring (${scheme})`, workflow: 'content_generator', metadata: { user: 'u1' } });
    expect(started.status).toBe(200);
    expect(started.body).toEqual({
      channel_id: expect.any(String),
      status: 'pending',
      workflow: 'content_generator',
      status_url: `/ai/requests/${String(started.body.channel_id)}`,
      realtime: { namespace: '/ai', subscribe_token: expect.any(String), expires_at: expect.any(String) },
    });
    const channelId = started.body.channel_id as string;
    const view = await app.waitForStatus(channelId, ['completed', 'failed']);
    expect(view).toMatchObject({
      status: 'completed',
      workflow: 'content_generator',
      ai_data: { title: expect.any(String), body: expect.any(String) },
      result: { processed: true, slug: expect.stringMatching(/^write-about-rivers-in-spring/), content_id: expect.any(String) },
      callback: { status: 'delivered', attempts: 1, last_status_code: 200 },
      error: null,
    });
    const delivery = app.db.prepare('SELECT signature_scheme FROM webhook_deliveries WHERE channel_id = ?').get(channelId);
    expect(delivery).toEqual({ signature_scheme: scheme });
    // ModelRiver (the sandbox) received the enriched data, and pushed ai_generated then completed.
    const seen = await sandboxRequest(app, channelId);
    expect(seen.callbacks).toEqual([{ at: expect.any(String), status: 200, body: expect.objectContaining({ data: view.result }) }]);
    expect((seen.pushes as Json[]).map((p) => p.status)).toEqual(['ai_generated', 'completed']);
  });

  it('entity_extractor completes with validated entities', async () => {
    const started = await app.generate({ prompt: 'Ada Lovelace met Charles Babbage in London; Ada wrote notes.', workflow: 'entity_extractor' });
    const view = await app.waitForStatus(started.body.channel_id as string, ['completed', 'failed']);
    expect(view.status).toBe('completed');
    expect((view.result as Json).entities_validated).toBe(5);
    expect((view.result as Json).entities_valid).toEqual([
      { name: 'Ada', type: 'proper_noun' },
      { name: 'Lovelace', type: 'proper_noun' },
      { name: 'Charles', type: 'proper_noun' },
      { name: 'Babbage', type: 'proper_noun' },
      { name: 'London', type: 'proper_noun' },
    ]);
    expect((await sandboxRequest(app, started.body.channel_id as string)).state).toBe('completed');
  });

  it('a standard workflow (summarizer) completes through task.completed, without a callback', async () => {
    const started = await app.generate({ prompt: 'one two three', workflow: 'summarizer' });
    const view = await app.waitForStatus(started.body.channel_id as string, ['completed', 'failed']);
    expect(view).toMatchObject({ status: 'completed', callback: { status: 'not_required', attempts: 0 }, result: { summary: 'one two three', stored: true } });
  });

  it('webhook endpoint failing twice (injected 500s): the third attempt is accepted and processed once', async () => {
    await app.control('/faults', { webhook_fail_first: 2 });
    const started = await app.generate({ prompt: 'Retry me please' });
    const channelId = started.body.channel_id as string;
    expect((await app.waitForStatus(channelId, ['completed', 'failed'])).status).toBe('completed');
    const seen = await sandboxRequest(app, channelId);
    expect((seen.webhook_attempts as Json[]).map((a) => a.status)).toEqual([500, 500, 200]);
    expect(seen.callbacks).toHaveLength(1);
    expect(app.db.prepare('SELECT attempts FROM webhook_deliveries WHERE channel_id = ?').all(channelId)).toEqual([{ attempts: 1 }]);
  });

  it('an answer lost in transit: ModelRiver redelivers, the backend dedupes, one processing', async () => {
    await app.control('/faults', { webhook_lose_response: 1 });
    const started = await app.generate({ prompt: 'Lost answer' });
    const channelId = started.body.channel_id as string;
    expect((await app.waitForStatus(channelId, ['completed', 'failed'])).status).toBe('completed');
    const seen = await afterAttempts(app, channelId, 2);
    expect((seen.webhook_attempts as Json[]).map((a) => a.status)).toEqual([200, 200]);
    expect(seen.callbacks).toHaveLength(1);
    expect(app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE channel_id = ?').get(channelId)).toEqual({ n: 1 });
  });

  it('an injected duplicate delivery is processed once', async () => {
    await app.control('/faults', { duplicate_delivery: true });
    const started = await app.generate({ prompt: 'Duplicate me' });
    const channelId = started.body.channel_id as string;
    expect((await app.waitForStatus(channelId, ['completed', 'failed'])).status).toBe('completed');
    const seen = await afterAttempts(app, channelId, 2);
    expect(seen.webhook_attempts).toHaveLength(2);
    expect(seen.callbacks).toHaveLength(1);
    expect(app.db.prepare('SELECT COUNT(*) AS n FROM contents WHERE channel_id = ?').get(channelId)).toEqual({ n: 1 });
  });

  it('an expired callback window (410) is final: the request fails and is reported', async () => {
    await app.control('/faults', { callback_window_expired: true });
    const started = await app.generate({ prompt: 'Too late' });
    const view = await app.waitForStatus(started.body.channel_id as string, ['completed', 'failed']);
    expect(view.status).toBe('failed');
    expect(view.error).toContain('callback answered 410');
  });

  it('GET /ai/requests/:channel_id answers 404 for an unknown channel', async () => {
    const response = await fetch(`${app.url}/ai/requests/00000000-0000-0000-0000-000000000000`);
    expect(response.status).toBe(404);
  });

  describe('bad input: 400, nothing stored, no request started on ModelRiver', () => {
    it.each<[string, unknown]>([
      ['no prompt', {}],
      ['an empty prompt', { prompt: '' }],
      ['a blank prompt', { prompt: '   ' }],
      ['a prompt over 8000 characters', { prompt: 'x'.repeat(8001) }],
      ['a prompt that is not a string', { prompt: 42 }],
      ['a workflow with odd characters', { prompt: 'hi', workflow: '../etc' }],
      ['metadata that is not an object', { prompt: 'hi', metadata: 'x' }],
      ['metadata over the size cap', { prompt: 'hi', metadata: { blob: 'x'.repeat(5000) } }],
      ['an unknown field', { prompt: 'hi', temperature: 2 }],
      ['an unknown workflow (ModelRiver 404)', { prompt: 'hi', workflow: 'no_such_workflow' }],
    ])('%s', async (_name, body) => {
      const before = aiRequestCount(app);
      const sandboxBefore = (await app.control<{ requests: number }>('/stats')).requests;
      const answer = await app.generate(body);
      expect(answer.status).toBe(400);
      expect(aiRequestCount(app)).toBe(before);
      expect((await app.control<{ requests: number }>('/stats')).requests).toBe(sandboxBefore);
    });

    it('malformed JSON is a 400', async () => {
      const response = await fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":' });
      expect(response.status).toBe(400);
    });

    it.each<[string, unknown, string]>([
      ['no prompt', {}, 'prompt is required'],
      ['a numeric prompt', { prompt: 42 }, 'prompt must be a string'],
      ['a blank prompt', { prompt: '   ' }, 'prompt must not be blank'],
      ['an unknown field', { prompt: 'hi', temperature: 2 }, 'temperature is not a field of this request'],
    ])('says what is wrong with %s in one string message (each reason also in errors)', async (_name, body, message) => {
      const answer = await app.generate(body);
      expect(answer.body).toEqual({ statusCode: 400, error: 'Bad Request', message, errors: [message], request_id: expect.any(String) });
    });

    it('answers 415 to a body that is not JSON, even JSON sent as text/plain, and starts nothing', async () => {
      const before = aiRequestCount(app);
      const response = await fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ prompt: 'hi' }) });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ statusCode: 415, message: 'content-type must be application/json' });
      expect(aiRequestCount(app)).toBe(before);
    });

    it('answers 413 with the limit to a body over it', async () => {
      const response = await fetch(`${app.url}/ai/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'x'.repeat(1_100_000) }),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ statusCode: 413, message: 'body exceeds the 1048576 bytes limit' });
    });
  });

  describe('ModelRiver errors become clear answers (never retried)', () => {
    it.each<[number | 'hang', number, string]>([
      [401, 502, 'ModelRiver refused the backend credentials'],
      [403, 502, 'ModelRiver refused the backend credentials'],
      [404, 400, 'Workflow not found'],
      [429, 429, 'ModelRiver rate limit reached; retry later'],
      [500, 502, 'ModelRiver failed (502)'],
      [503, 502, 'ModelRiver failed (503)'],
      ['hang', 504, 'ModelRiver did not answer in time'],
    ])('ModelRiver %s → %i', async (fault, status, message) => {
      const before = aiRequestCount(app);
      await app.control('/faults', { async_status: fault });
      const answer = await app.generate({ prompt: 'hello' });
      expect(answer.status).toBe(status);
      expect(answer.body.message).toBe(message);
      if (status === 429) expect(answer.headers.get('retry-after')).toBe('7');
      expect(aiRequestCount(app)).toBe(before);
    });
  });
});

describe('/ai access control', () => {
  let app: SandboxTestApp;
  const TOKEN = 'api-token-for-e2e-0123456789';

  beforeAll(async () => {
    app = await startSandboxApp({ API_TOKENS: `${TOKEN},second-token-abcdefghijk`, AI_GENERATE_RATE_LIMIT: '3', AI_REQUEST_TIMEOUT_MS: '2000' });
  });
  afterAll(() => app.close());

  it('requires a listed bearer token when API_TOKENS is set', async () => {
    expect((await app.generate({ prompt: 'hi' })).status).toBe(401);
    expect((await app.generate({ prompt: 'hi' }, { authorization: 'Bearer wrong-token-000000000' })).status).toBe(401);
    expect((await fetch(`${app.url}/ai/requests/x`)).status).toBe(401);
    expect(aiRequestCount(app)).toBe(0);
    expect((await app.generate({ prompt: 'hi' }, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('rate limits /ai/generate per client (AI_GENERATE_RATE_LIMIT per minute), with a plain message and Retry-After', async () => {
    const answers: { status: number; body: Record<string, unknown>; headers: Headers }[] = [];
    for (let i = 0; i < 4; i++) answers.push(await app.generate({ prompt: `hi ${i}` }, { authorization: `Bearer ${TOKEN}` }));
    // One request was already used by the previous test.
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429, 429]);
    const limited = answers[2];
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({ statusCode: 429, message: `too many requests; retry in ${retryAfter} s` });
  });
});

describe('behind a proxy (TRUST_PROXY)', () => {
  const generate = (app: TestApp, forwardedFor: string) =>
    fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: '{}' }).then((r) => r.status);

  it('with TRUST_PROXY naming the proxy the rate limit applies to the client the proxy names, not to the proxy', async () => {
    const app = await startTestApp({ TRUST_PROXY: '127.0.0.1', AI_GENERATE_RATE_LIMIT: '1' });
    try {
      // Every request comes from the same socket (the proxy); X-Forwarded-For names two clients.
      expect(await generate(app, '203.0.113.7')).toBe(400);
      expect(await generate(app, '198.51.100.9')).toBe(400);
      expect(await generate(app, '203.0.113.7')).toBe(429);
    } finally {
      await app.close();
    }
  });

  it('a peer that TRUST_PROXY does not name cannot name another client: a direct caller cannot dodge its limit', async () => {
    const app = await startTestApp({ TRUST_PROXY: '10.20.30.40, uniquelocal', AI_GENERATE_RATE_LIMIT: '1' });
    try {
      expect(await generate(app, '203.0.113.7')).toBe(400);
      expect(await generate(app, '198.51.100.9')).toBe(429);
    } finally {
      await app.close();
    }
  });

  it('without TRUST_PROXY a forwarded address is not believed: everyone behind the proxy shares one limit', async () => {
    const app = await startTestApp({ AI_GENERATE_RATE_LIMIT: '1' });
    try {
      expect(await generate(app, '203.0.113.7')).toBe(400);
      expect(await generate(app, '198.51.100.9')).toBe(429);
    } finally {
      await app.close();
    }
  });
});
