import { AddressInfo, createServer, Server } from 'node:net';
import { classifyStatus, ModelRiverCallbackClient, parseRetryAfter } from './modelriver-callback.client';

describe('classifyStatus', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [409, 'delivered'],
    [408, 'retryable'],
    [429, 'retryable'],
    [500, 'retryable'],
    [503, 'retryable'],
    [301, 'final'],
    [302, 'final'],
    [400, 'final'],
    [401, 'final'],
    [404, 'final'],
    [410, 'final'],
  ])('%i → %s', (status, outcome) => {
    expect(classifyStatus(status)).toBe(outcome);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it.each([
    ['1', 1000],
    ['120', 120_000],
    [' 3 ', 3000],
    ['Thu, 26 Nov 2026 12:00:30 GMT', 30_000],
    ['Thu, 26 Nov 2026 11:00:00 GMT', 0],
    ['soon', null],
    ['', null],
    [undefined, null],
    [['1'], null],
  ])('%p → %p', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });
});

describe('ModelRiverCallbackClient and kept-alive connections', () => {
  const config = {
    apiKey: 'test-key',
    allowHttp: true,
    allowedHosts: ['127.0.0.1'],
    connectTimeoutMs: 1000,
    timeoutMs: 2000,
    budgetMs: 10_000,
    retryBaseMs: 100,
    retryMaxMs: 1000,
  };
  let server: Server;
  let client: ModelRiverCallbackClient;
  const seen = { connections: 0, requests: 0 };

  /** Answers the first request of each connection (or none) and closes a connection at any request after that. */
  async function start(answerFirst: boolean): Promise<URL> {
    seen.connections = 0;
    seen.requests = 0;
    server = createServer((socket) => {
      seen.connections += 1;
      let answered = false;
      socket.on('data', (chunk) => {
        seen.requests += chunk.toString().split('POST ').length - 1;
        // A request on a connection that already had its answer: closed as an idle server closes it.
        if (answered || !answerFirst) return void socket.destroy();
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new ModelRiverCallbackClient(config);
    return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/callback/c1`);
  }

  afterEach(async () => {
    client.onApplicationShutdown();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends a request that met a connection the server had closed once more, on a new connection', async () => {
    const url = await start(true);
    expect((await client.post(url, { n: 1 }, 2000)).outcome).toBe('delivered');
    const second = await client.post(url, { n: 2 }, 2000);
    expect(second).toMatchObject({ outcome: 'delivered', statusCode: 200, error: null });
    expect(seen).toEqual({ connections: 2, requests: 3 });
  });

  it('does not repeat a request whose fresh connection failed: that is a retryable outcome for the caller', async () => {
    const url = await start(false);
    const response = await client.post(url, { n: 1 }, 2000);
    expect(response).toMatchObject({ outcome: 'retryable', statusCode: null });
    expect(response.error).toMatch(/^network error: /);
    expect(seen).toEqual({ connections: 1, requests: 1 });
  });
});
