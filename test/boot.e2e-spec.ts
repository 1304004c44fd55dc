import { createHmac } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, spawnApp, startAppProcess } from './helpers/app-process';
import { tempDir, waitFor } from './helpers/create-test-app';

/** The production start (`node dist/main.js`) with the committed `.env` and `.env.development`, as a newcomer runs it. */
describe('booting the built app', () => {
  const dir = tempDir('mr-boot-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('boots on the committed .env files: the README Try it flow completes and its curl example gets 200', async () => {
    // Only the ports and DATABASE_URL are overridden (environment variables win over .env); all else is the files'.
    const app = await startAppProcess(
      // NODE_ENV empty: jest's `test` must not leak into a newcomer's start (the files say development).
      { PORT: String(await freePort()), SANDBOX_PORT: String(await freePort()), DATABASE_URL: `sqlite:${join(dir, 'boot.db')}`, NODE_ENV: '' },
      { baseEnv: false },
    );
    try {
      const readmeText = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
      const tryIt = /-d '(\{"prompt":[^']+)'/.exec(readmeText)![1];
      const started = await fetch(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: tryIt });
      expect(started.status).toBe(200);
      const { channel_id: channelId } = (await started.json()) as { channel_id: string };
      const view = await waitFor('the Try it request to complete', async () => {
        const body = (await (await fetch(`${app.url}/ai/requests/${channelId}`)).json()) as { status: string };
        return ['completed', 'failed'].includes(body.status) ? body : undefined;
      });
      expect(view).toMatchObject({ status: 'completed', result: { slug: expect.any(String) }, callback: { status: 'delivered' } });

      const dotenv = readFileSync(join(REPO_ROOT, '.env.development'), 'utf8');
      const secret = /^MODELRIVER_WEBHOOK_SECRET=(.*)$/m.exec(dotenv)![1].split(',')[0];
      const body = /^BODY='(.*)'$/m.exec(readmeText)![1];
      const signature = createHmac('sha256', secret).update(body).digest('hex');
      const response = await fetch(`${app.url}/webhooks/modelriver`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'mr-signature': signature },
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ received: true, duplicate: false });
    } finally {
      expect(await app.kill('SIGTERM')).toBe(0);
    }
  });

  it('refuses to boot with a missing variable and names it', async () => {
    const app = spawnApp({ PORT: String(await freePort()), MODELRIVER_API_KEY: '' });
    expect(await app.exited).toBe(1);
    expect(app.output()).toContain('MODELRIVER_API_KEY');
  });

  it('in production reads no development secret: without real ones it names what is required, once, without a stack', async () => {
    const app = spawnApp({ PORT: String(await freePort()), NODE_ENV: 'production', MODELRIVER_SANDBOX: 'false' }, { baseEnv: false });
    expect(await app.exited).toBe(1);
    expect(app.output().trim().split('\n')).toEqual([
      'Cannot start: Invalid configuration:',
      '  - MODELRIVER_API_KEY is required',
      '  - MODELRIVER_WEBHOOK_SECRET is required',
      '  - REALTIME_TOKEN_SECRET is required',
    ]);
  });

  it('refuses the committed development values when NODE_ENV=production, even when exported', async () => {
    const dev = Object.fromEntries(
      readFileSync(join(REPO_ROOT, '.env.development'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    ) as Record<string, string>;
    const app = spawnApp({ ...dev, PORT: String(await freePort()), NODE_ENV: 'production', MODELRIVER_SANDBOX: 'false' }, { baseEnv: false });
    expect(await app.exited).toBe(1);
    expect(app.output()).toContain('MODELRIVER_WEBHOOK_SECRET holds a committed development value');
    expect(app.output()).not.toMatch(/^\s+at /m);
  });
});
