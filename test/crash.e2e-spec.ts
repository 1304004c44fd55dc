import { rmSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppProcess, freePort, startAppProcess } from './helpers/app-process';
import { CallbackSink, SinkRequest } from './helpers/callback-sink';
import { tempDir, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Promises 1, 2 and 4 under kill -9: continuous signed load, the process killed without warning (while it
 * is processing and calling back), restarted on the same database. Every delivery answered 200 must end
 * completed with exactly one success callback. The one allowed exception is the documented at-least-once
 * window: a callback answered 2xx just before the kill, whose success was not yet committed, is sent again
 * after the restart (same task_id, same body).
 */
describe('crash recovery (kill -9)', () => {
  const dir = tempDir('mr-crash-');
  const dbFile = join(dir, 'crash.db');
  let app: AppProcess | undefined;
  let sink: CallbackSink;

  beforeAll(async () => {
    sink = await new CallbackSink().start();
  });
  afterAll(async () => {
    await app?.kill();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes every delivery answered 200 with one success callback across a kill -9 and restart', async () => {
    const port = String(await freePort());
    const env = { PORT: port, DATABASE_URL: `sqlite:${dbFile}`, SQLITE_SYNCHRONOUS: 'FULL', QUEUE_LEASE_MS: '2000' };
    const accepted = new Set<string>();
    let sent = 0;
    let running = true;

    const sender = async (n: number) => {
      for (let i = 0; running; i++) {
        const event = (n + i) % 2 === 0 ? 'content_ready' : 'entities_extracted';
        const data = event === 'content_ready' ? { title: 'Crash test', body: 'text' } : { entities: [{ name: 'Ada', type: 'person' }] };
        const payload = aiGeneratedPayload({ callbackBase: sink.url, event, data });
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
    const senders = Array.from({ length: 4 }, (_, n) => sender(n));
    await waitFor('deliveries and callbacks before the kill', () => (accepted.size >= 60 && sink.requests.length >= 30) || undefined, 30_000);
    const acceptedBeforeKill = accepted.size;
    await app.kill('SIGKILL');
    // Taken once the exit is observed: a killed process sends nothing later, so any first copy of a
    // double must have arrived before this moment.
    const killedAt = Date.now();
    await sleep(200);
    app = await startAppProcess(env);
    await waitFor('deliveries after the restart', () => accepted.size >= acceptedBeforeKill + 60 || undefined, 30_000);
    running = false;
    await Promise.all(senders);

    const db = new BetterSqlite3(dbFile, { readonly: true });
    try {
      const unfinished = db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status <> 'completed'");
      // Rows stored but never answered (killed mid-request) are recovered too, so wait for all of them.
      await waitFor('every stored delivery to complete', () => (unfinished.get() as { n: number }).n === 0 || undefined, 20_000);
      const rowsFor = db.prepare('SELECT status, callback_status FROM webhook_deliveries WHERE channel_id = ?');
      const doubles: SinkRequest[][] = [];
      for (const channel of accepted) {
        expect(rowsFor.all(channel)).toEqual([{ status: 'completed', callback_status: 'delivered' }]);
        const callbacks = sink.for(channel);
        expect(callbacks.length).toBeGreaterThanOrEqual(1);
        if (callbacks.length > 1) doubles.push(callbacks);
      }
      for (const copies of doubles) {
        // Only the at-least-once window: identical callbacks, the first answered before the kill.
        expect(copies).toHaveLength(2);
        expect(copies[1].body).toEqual(copies[0].body);
        expect(copies[0].receivedAt).toBeLessThanOrEqual(killedAt);
        expect(killedAt - copies[0].receivedAt).toBeLessThan(1000);
      }
      process.stdout.write(
        `crash test: sent ${sent}, answered 200: ${accepted.size} (${acceptedBeforeKill} before the kill), ` +
          `callbacks: ${sink.requests.length}, doubles: ${doubles.length}` +
          (doubles.length
            ? ` (first copies answered ${doubles.map((d) => killedAt - d[0].receivedAt).join(', ')} ms before the kill; success not yet committed)`
            : '') +
          '\n',
      );
    } finally {
      db.close();
    }
  });
});
