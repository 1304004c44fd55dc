import { rmSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { freePort, startAppProcess } from '../helpers/app-process';
import { EXPORTED, resolveComposeEnvironment } from '../helpers/compose';
import { tempDir } from '../helpers/create-test-app';
import { freshBackends } from '../helpers/scale-env';

/**
 * docker-compose.yml as `docker compose up` resolves it (compose's interpolation of the committed .env and the
 * operator's exports), booted for real: the built app with exactly that environment, from a directory without
 * .env files (as in the image), only the compose host names of PostgreSQL and Redis pointed at this machine's.
 */
describe('docker-compose.yml boots the app it describes', () => {
  it('starts ready, with admin enabled by the exported ADMIN_TOKEN and webhooks signed with the exported secret', async () => {
    const backends = await freshBackends();
    const cwd = tempDir('mr-compose-');
    const adminToken = 'compose-admin-token-0123456789abcdef';
    const env = { ...resolveComposeEnvironment({ ...EXPORTED, ADMIN_TOKEN: adminToken }), DATABASE_URL: backends.databaseUrl, REDIS_URL: backends.redisUrl, PORT: String(await freePort()) };
    const app = await startAppProcess(env, { isolated: { cwd } });
    try {
      expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
      expect((await fetch(`${app.url}/admin/deliveries`)).status).toBe(401);
      expect((await fetch(`${app.url}/admin/deliveries`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
      const body = JSON.stringify({ type: 'task.completed', status: 'success', channel_id: 'compose-1', data: { ok: true } });
      const signature = createHmac('sha256', EXPORTED.MODELRIVER_WEBHOOK_SECRET).update(body).digest('hex');
      const answer = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: { 'content-type': 'application/json', 'mr-signature': signature }, body });
      expect(answer.status).toBe(200);
    } finally {
      expect(await app.kill('SIGTERM')).toBe(0);
      rmSync(cwd, { recursive: true, force: true });
      await backends.drop();
    }
  });
});
