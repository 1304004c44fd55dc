import { rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { freePort, spawnApp, startAppProcess } from './helpers/app-process';
import { CallbackSink } from './helpers/callback-sink';
import { startTestApp, tempDir, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const occupy = (port: number) => new Promise<Server>((resolve) => {
  const server = createServer().listen(port, '127.0.0.1', () => resolve(server));
});
/** What a failed start printed: no stack frames, no Nest banner. */
const lines = (output: string) => output.trim().split('\n');

describe('start-up failures are one clear line, exit 1, no stack', () => {
  it('PORT in use: names PORT and its value', async () => {
    const port = await freePort();
    const blocker = await occupy(port);
    try {
      const app = spawnApp({ PORT: String(port), DATABASE_URL: `sqlite:${join(tempDir(), 'port.db')}` });
      expect(await app.exited).toBe(1);
      expect(lines(app.output())).toEqual([`Cannot start: PORT=${port} is already in use on 127.0.0.1: stop what listens there, or set PORT to a free port`]);
    } finally {
      blocker.close();
    }
  });

  it('SANDBOX_PORT in use: names SANDBOX_PORT and its value', async () => {
    const port = await freePort();
    const blocker = await occupy(port);
    try {
      const app = spawnApp({ PORT: String(await freePort()), MODELRIVER_SANDBOX: 'true', SANDBOX_PORT: String(port), DATABASE_URL: `sqlite:${join(tempDir(), 'sandbox.db')}` });
      expect(await app.exited).toBe(1);
      expect(lines(app.output())).toEqual([`Cannot start: SANDBOX_PORT=${port} is already in use on 127.0.0.1: stop what listens there, or set SANDBOX_PORT to a free port`]);
    } finally {
      blocker.close();
    }
  });

  it('invalid configuration: printed once, one line per variable with one reason', async () => {
    const app = spawnApp({ PORT: 'abc', QUEUE_CONCURRENCY: '1000', TRUST_PROXY: 'everyone', DELIVERY_RETENTION: '7 days', HTTP_KEEP_ALIVE_TIMEOUT_MS: '5' });
    expect(await app.exited).toBe(1);
    expect(lines(app.output())).toEqual([
      'Cannot start: Invalid configuration:',
      '  - PORT must be an integer number (got "abc")',
      '  - DELIVERY_RETENTION must be a duration such as 7d, 36h, 15m or 30s, or off (got "7 days")',
      '  - HTTP_KEEP_ALIVE_TIMEOUT_MS must not be less than 1000 (got "5")',
      '  - QUEUE_CONCURRENCY must not be greater than 256 (got "1000")',
      '  - TRUST_PROXY must be a comma-separated list of proxy addresses, CIDR ranges or loopback, linklocal, uniquelocal (got "everyone")',
    ]);
  });

  it('production refuses a retention shorter than ModelRiver retries a webhook', async () => {
    const app = spawnApp({
      NODE_ENV: 'production',
      MODELRIVER_SANDBOX: 'false',
      MODELRIVER_API_KEY: 'mr_live_startup_test_key',
      MODELRIVER_WEBHOOK_SECRET: 'whsec_startup_test_secret_0123',
      REALTIME_TOKEN_SECRET: 'realtime_startup_test_secret_0123456789',
      DELIVERY_RETENTION: '2h',
    });
    expect(await app.exited).toBe(1);
    expect(lines(app.output())).toEqual([
      'Cannot start: Invalid configuration:',
      '  - DELIVERY_RETENTION must be at least 24h in production: ModelRiver retries a webhook for 3 h 42 min, and a deleted delivery is no longer deduplicated (got 2h)',
    ]);
  });
});

describe('one process per SQLite database file', () => {
  it('a second process on a held file exits 1 before touching any row, naming the file and the holder; after kill -9 the file is free at once', async () => {
    const dir = tempDir('mr-lock-');
    // Callbacks take 2.5 s: the first process is mid-callback on every delivery when the second one starts.
    const sink = await new CallbackSink({ delayMs: 2500 }).start();
    const dbFile = join(dir, 'shared.db');
    const first = await startAppProcess({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${dbFile}` });
    try {
      const channels: string[] = [];
      for (let i = 0; i < 20; i++) {
        const payload = aiGeneratedPayload({ callbackBase: sink.url });
        const body = JSON.stringify(payload);
        expect((await fetch(`${first.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).status).toBe(200);
        channels.push(payload.channel_id as string);
      }
      const db = new BetterSqlite3(dbFile, { readonly: true });
      const processing = () => (db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'processing'").get() as { n: number }).n;
      await waitFor('every delivery to be mid-callback', () => (processing() === 20 ? true : undefined));

      const second = spawnApp({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${dbFile}` });
      expect(await second.exited).toBe(1);
      expect(lines(second.output())).toEqual([
        `Cannot start: the database file ${dbFile} is in use by another process (pid ${first.child.pid}): one process per SQLite file; stop it, or set DATABASE_URL to another file`,
      ]);
      // It touched nothing: the first process's running deliveries were not taken over.
      expect(processing()).toBe(20);

      await waitFor('every callback', () => (channels.every((c) => sink.for(c).length > 0) ? true : undefined), 20_000);
      await sleep(500);
      expect(channels.filter((c) => sink.for(c).length !== 1)).toEqual([]);

      // The lock dies with its process: a restart after kill -9 starts at once, no stale-lock wait.
      await first.kill('SIGKILL');
      const restarted = await startAppProcess({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${dbFile}` });
      expect((await fetch(`${restarted.url}/health/ready`)).status).toBe(200);
      await restarted.kill('SIGTERM');
      db.close();
    } finally {
      await first.kill('SIGKILL');
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('inside one process too: a second app on the same file fails to start with the same error', async () => {
    const dir = tempDir('mr-lock-');
    const env = { DATABASE_URL: `sqlite:${join(dir, 'one.db')}` };
    const app = await startTestApp(env);
    try {
      await expect(startTestApp(env)).rejects.toThrow(/is in use by another process/);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
