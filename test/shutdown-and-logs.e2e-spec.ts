import { rmSync } from 'node:fs';
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
      await sleep(300);
      const output = app.output();
      for (const secret of secrets) expect(output).not.toContain(secret);
      expect(output).not.toContain('wrong-admin-token');
      // Correlation: the request id reaches the log, the headers are there but censored.
      expect(output).toContain('"id":"trace-me-1"');
      expect(output).toContain('"mr-signature":"[redacted]"');
      expect(output).toMatch(/"msg":"accepted delivery [0-9a-f-]{36} /);
    } finally {
      await app.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM under load: exit 0 within the grace time; after a restart every 2xx delivery is processed once', async () => {
    const dir = tempDir('mr-shutdown-');
    const sink = await new CallbackSink().start();
    const port = String(await freePort());
    const env = { PORT: port, DATABASE_URL: `sqlite:${join(dir, 'shutdown.db')}`, QUEUE_SHUTDOWN_GRACE_MS: '3000' };
    let app: AppProcess | undefined = await startAppProcess(env);
    try {
      const load = startSignedLoad({ target: () => `http://127.0.0.1:${port}`, senders: 4, payload: () => ({ callbackBase: sink.url }) });
      const { accepted, statuses } = load;
      await waitFor('load', () => (accepted.size >= 40 ? true : undefined), 30_000);
      const stopping = Date.now();
      const code = await app.kill('SIGTERM');
      const took = Date.now() - stopping;
      expect(code).toBe(0);
      expect(took).toBeLessThan(3000 + 5000); // the grace time plus closing, a bound rather than a benchmark
      app = await startAppProcess(env);
      await load.stop();
      // While draining, intake said 503 (ModelRiver retries); nothing else went wrong.
      expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
      // Graceful: nothing was interrupted, so no callback was repeated.
      expect(await settleAccepted(env.DATABASE_URL.slice('sqlite:'.length), accepted, sink, 20_000)).toEqual([]);
    } finally {
      await app?.kill();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
