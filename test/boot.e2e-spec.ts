import { createHmac } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, spawnApp, startAppProcess } from './helpers/app-process';
import { tempDir } from './helpers/create-test-app';

/** The production start (`node dist/main.js`) with the committed `.env`, as a newcomer runs it. */
describe('booting the built app', () => {
  const dir = tempDir('mr-boot-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('boots on the committed .env and accepts the README curl example', async () => {
    const port = String(await freePort());
    // Only PORT and DATABASE_URL are overridden (environment variables win over .env); the secret is .env's.
    const app = await startAppProcess({ PORT: port, DATABASE_URL: `sqlite:${join(dir, 'boot.db')}` }, { baseEnv: false });
    try {
      const dotenv = readFileSync(join(REPO_ROOT, '.env'), 'utf8');
      const secret = /^MODELRIVER_WEBHOOK_SECRET=(.*)$/m.exec(dotenv)![1].split(',')[0];
      const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
      const body = /^BODY='(.*)'$/m.exec(readme)![1];
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

  it('refuses the committed development values when NODE_ENV=production', async () => {
    const app = spawnApp({ PORT: String(await freePort()), NODE_ENV: 'production' }, { baseEnv: false });
    expect(await app.exited).toBe(1);
    expect(app.output()).toContain('MODELRIVER_WEBHOOK_SECRET holds a committed development value');
  });
});
