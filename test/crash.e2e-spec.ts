import { rmSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppProcess, freePort, startAppProcess } from './helpers/app-process';
import { tempDir, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Promise 1 under kill -9: continuous signed load, the process killed without warning, restarted on the
 * same database. Every delivery that was answered 200 must end completed, once.
 */
describe('crash recovery (kill -9)', () => {
  const dir = tempDir('mr-crash-');
  const dbFile = join(dir, 'crash.db');
  let app: AppProcess | undefined;

  afterAll(async () => {
    await app?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes every delivery answered 200, exactly once, across a kill -9 and restart', async () => {
    const port = String(await freePort());
    const env = { PORT: port, DATABASE_URL: `sqlite:${dbFile}`, SQLITE_SYNCHRONOUS: 'FULL', QUEUE_LEASE_MS: '2000' };
    const accepted = new Set<string>();
    let sent = 0;
    let running = true;

    const sender = async () => {
      while (running) {
        const payload = aiGeneratedPayload();
        const body = JSON.stringify(payload);
        sent++;
        try {
          const response = await fetch(`http://127.0.0.1:${port}/webhooks/modelriver`, {
            method: 'POST',
            headers: signedHeaders(body),
            body,
            signal: AbortSignal.timeout(3000),
          });
          if (response.status === 200) accepted.add(payload.channel_id as string);
          await response.arrayBuffer();
        } catch {
          await sleep(20); // the app is down: keep trying, as ModelRiver would
        }
      }
    };

    app = await startAppProcess(env);
    const senders = Array.from({ length: 4 }, () => sender());
    await waitFor('deliveries before the kill', () => accepted.size >= 50 || undefined);
    const acceptedBeforeKill = accepted.size;
    await app.kill('SIGKILL');
    await sleep(200);
    app = await startAppProcess(env);
    await waitFor('deliveries after the restart', () => accepted.size >= acceptedBeforeKill + 50 || undefined);
    running = false;
    await Promise.all(senders);

    const db = new BetterSqlite3(dbFile, { readonly: true });
    try {
      const rowsFor = db.prepare('SELECT status FROM webhook_deliveries WHERE channel_id = ?');
      const unfinished = db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status <> 'completed'");
      // Rows stored but never answered (killed mid-request) are recovered too, so wait for all of them.
      await waitFor('every stored delivery to complete', () => (unfinished.get() as { n: number }).n === 0 || undefined, 20_000);
      for (const channel of accepted) {
        expect(rowsFor.all(channel)).toEqual([{ status: 'completed' }]);
      }
      process.stdout.write(`crash test: sent ${sent}, answered 200: ${accepted.size} (${acceptedBeforeKill} before the kill), all completed once\n`);
    } finally {
      db.close();
    }
  });
});
