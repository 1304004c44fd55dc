import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { AppProcess, freePort, startAppProcess } from './helpers/app-process';
import { CallbackSink } from './helpers/callback-sink';
import { tempDir, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders, TEST_SECRET } from './helpers/sign-webhook';
import { settleAccepted, startSignedLoad } from './helpers/signed-load';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('logs', () => {
  it('a request carrying secrets in its headers produces log lines containing none of them', async () => {
    const dir = tempDir('mr-logs-');
    const app = await startAppProcess({
      PORT: String(await freePort()),
      DATABASE_URL: `sqlite:${join(dir, 'logs.db')}`,
      LOG_LEVEL: 'debug',
      API_TOKENS: 'api-token-secret-value-123456789',
      ADMIN_TOKEN: 'admin-token-secret-value-123456789',
    });
    try {
      const body = JSON.stringify(aiGeneratedPayload());
      const signature = signedHeaders(body)['mr-signature'];
      const secrets = ['api-token-secret-value-123456789', 'admin-token-secret-value-123456789', 'cookie-secret-value', signature, TEST_SECRET];
      await fetch(`${app.url}/webhooks/modelriver`, {
        method: 'POST',
        headers: { ...signedHeaders(body), cookie: 'session=cookie-secret-value', 'x-request-id': 'trace-me-1' },
        body,
      });
      await fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { authorization: 'Bearer api-token-secret-value-123456789', 'content-type': 'application/json' }, body: '{}' });
      await fetch(`${app.url}/admin/deliveries`, { headers: { authorization: 'Bearer admin-token-secret-value-123456789' } });
      await fetch(`${app.url}/admin/deliveries`, { headers: { authorization: 'Bearer wrong-admin-token-000000000' } });
      // A client that leaves halfway through its body still gets its line.
      const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('POST /webhooks/modelriver HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Request-Id: trace-abandon\r\n\r\n{"a":');
      await sleep(100);
      socket.destroy();
      await sleep(300);
      const output = app.output();
      for (const secret of secrets) expect(output).not.toContain(secret);
      expect(output).not.toContain('wrong-admin-token');
      // Correlation: the request id reaches the log; headers are not logged at all, censored or not.
      expect(output).toContain('"id":"trace-me-1"');
      expect(output).not.toMatch(/mr-signature|authorization|cookie/i);
      expect(output).toMatch(/"msg":"accepted delivery [0-9a-f-]{36} /);
      expect(output).toContain('"msg":"POST /webhooks/modelriver 200 ');
      expect(output).toContain('"msg":"POST /webhooks/modelriver abandoned by the client before the answer (request trace-abandon)"');
    } finally {
      await app.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('logs a person can read', () => {
  const run = async (nodeEnv: string) => {
    const dir = tempDir('mr-logs-');
    const sink = await new CallbackSink().start();
    const app = await startAppProcess({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${join(dir, 'logs.db')}`, LOG_LEVEL: 'info', NODE_ENV: nodeEnv });
    const deliveries: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const body = JSON.stringify(aiGeneratedPayload({ callbackBase: sink.url }));
        const answer = (await (await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).json()) as { delivery_id: string };
        deliveries.push(answer.delivery_id);
      }
      await fetch(`${app.url}/`);
      await fetch(`${app.url}/favicon.ico`);
      await fetch(`${app.url}/nowhere`);
      await waitFor('every callback', () => (sink.requests.length >= 10 ? true : undefined));
      // Log lines reach us through a pipe, after the fact: wait for the last ones rather than for a fixed time.
      const logged = () => app.output().includes('GET /nowhere 404') && deliveries.every((id) => app.output().includes(`callback for delivery ${id} delivered`));
      await waitFor('the last log lines', () => (logged() ? true : undefined));
      return { output: app.output(), deliveries };
    } finally {
      await app.kill('SIGTERM');
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('development: one short line per request, no start-up route dump, worker lines after the delivery was accepted', async () => {
    const { output, deliveries } = await run('development');
    const lines = output.split('\n').filter((line) => line.length > 0);
    const requestLines = lines.filter((line) => / INFO: (GET|POST) \S+ \d{3} \d+ ms \(request [\w-]+\)/.test(line));
    expect(requestLines.length).toBeGreaterThanOrEqual(13); // ours, and the start-up probe's
    const average = requestLines.reduce((sum, line) => sum + Buffer.byteLength(line), 0) / requestLines.length;
    expect(average).toBeLessThanOrEqual(300);
    expect(output).not.toMatch(/Mapped \{|dependencies initialized|content-security-policy|user-agent/);
    expect(lines.filter((line) => /ERROR|WARN/.test(line))).toEqual([]);
    for (const id of deliveries) {
      const accepted = lines.findIndex((line) => line.includes(`accepted delivery ${id}`));
      const calledBack = lines.findIndex((line) => line.includes(`callback for delivery ${id} delivered`));
      expect(accepted).toBeGreaterThanOrEqual(0);
      // On failure, the lines that name this delivery say which came first and from where.
      if (calledBack <= accepted) throw new Error(`worker line before the accepted line for ${id}:\n${lines.filter((line) => line.includes(id)).join('\n')}`);
    }
    process.stdout.write(`development request lines: ${requestLines.length}, average ${Math.round(average)} bytes, e.g. ${requestLines[0].trim()}\n`);
  });

  it('production: one JSON object per line with the same fields', async () => {
    const { output } = await run('test');
    const request = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('POST /webhooks/modelriver 200'));
    expect(request).toMatchObject({ level: 30, req: { method: 'POST', url: '/webhooks/modelriver', id: expect.any(String) }, res: { statusCode: 200 }, responseTime: expect.any(Number) });
    expect(Object.keys(request!.req as object).sort()).toEqual(['id', 'method', 'url']);
  });

  it('ModelRiver answering 503 to many callbacks at once: retry warnings, and no listener-leak warning', async () => {
    // Every callback waiting to retry listens on the one signal that shutdown aborts. Past Node's default of 10
    // listeners the process printed "Possible EventTarget memory leak detected" (not even a JSON line).
    const dir = tempDir('mr-logs-');
    const sink = await new CallbackSink().start();
    const app = await startAppProcess({
      PORT: String(await freePort()),
      DATABASE_URL: `sqlite:${join(dir, 'logs.db')}`,
      LOG_LEVEL: 'warn',
      CALLBACK_RETRY_BASE_MS: '1000',
      CALLBACK_RETRY_MAX_MS: '1000',
    });
    try {
      const payloads = Array.from({ length: 16 }, () => aiGeneratedPayload({ callbackBase: sink.url }));
      const channels = payloads.map((payload) => payload.channel_id as string);
      for (const channel of channels) sink.script(channel, 503, 200);
      const statuses = await Promise.all(
        payloads.map(async (payload) => {
          const body = JSON.stringify(payload);
          return (await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).status;
        }),
      );
      expect(statuses).toEqual(channels.map(() => 200));
      await waitFor('every callback retried once and delivered', () => channels.every((channel) => sink.for(channel).length === 2) || undefined);
      const output = app.output();
      expect(output.match(/"msg":"result callback for delivery [0-9a-f-]{36} attempt 1: [^"]*; retry in \d+ ms"/g)).toHaveLength(16);
      expect(output).not.toContain('MaxListenersExceededWarning');
    } finally {
      await app.kill('SIGTERM');
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM under load: exit 0 within the grace time; after a restart every 2xx delivery is processed once', async () => {
    const dir = tempDir('mr-shutdown-');
    const sink = await new CallbackSink().start();
    const port = String(await freePort());
    // Info lines: a failed shutdown then shows which step it was waiting on.
    const env = { PORT: port, DATABASE_URL: `sqlite:${join(dir, 'shutdown.db')}`, QUEUE_SHUTDOWN_GRACE_MS: '3000', LOG_LEVEL: 'info' };
    let app: AppProcess | undefined = await startAppProcess(env);
    // Stopped in `finally` too: senders left running after a failed assertion would keep Jest from ever exiting.
    const load = startSignedLoad({ target: () => `http://127.0.0.1:${port}`, senders: 4, payload: () => ({ callbackBase: sink.url }) });
    try {
      const { accepted, statuses } = load;
      await waitFor('load', () => (accepted.size >= 40 ? true : undefined), 30_000);
      const stopping = Date.now();
      const running = app;
      const code = await Promise.race([
        running.kill('SIGTERM'),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM; the app said:\n${running.output().slice(-4000)}`)), 15_000),
        ),
      ]);
      const took = Date.now() - stopping;
      // On failure, the app's last lines say why it did not exit 0.
      expect({ code, output: code === 0 ? '' : running.output().slice(-4000) }).toEqual({ code: 0, output: '' });
      expect(took).toBeLessThan(3000 + 5000); // the grace time plus closing, a bound rather than a benchmark
      app = await startAppProcess(env);
      await load.stop();
      // While draining, intake said 503 (ModelRiver retries); nothing else went wrong.
      expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
      // Graceful: nothing was interrupted, so no callback was repeated.
      expect(await settleAccepted(env.DATABASE_URL.slice('sqlite:'.length), accepted, sink, 20_000)).toEqual([]);
    } finally {
      await load.stop();
      await app?.kill();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // Its own waits are bounded (load 30 s, stop 15 s, restart 20 s, settling 20 s): a slow machine shows which one.
  }, 120_000);

  it('a request that never finishes cannot hold the shutdown: exit 1 after the grace time plus 10 s, saying so', async () => {
    const dir = tempDir('mr-shutdown-');
    const port = await freePort();
    const app = await startAppProcess({ PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'hang.db')}`, QUEUE_SHUTDOWN_GRACE_MS: '500', LOG_LEVEL: 'error' });
    // Half a request body, then silence: the HTTP server waits for it (up to HTTP_REQUEST_TIMEOUT_MS, 30 s).
    const socket = connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('POST /ai/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt":');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stopping = Date.now();
      const code = await app.kill('SIGTERM');
      expect(code).toBe(1);
      expect(Date.now() - stopping).toBeGreaterThanOrEqual(10_500);
      expect(app.output()).toContain('shutdown did not finish within 10500 ms (QUEUE_SHUTDOWN_GRACE_MS + 10000 ms): exiting');
    } finally {
      socket.destroy();
      await app.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
