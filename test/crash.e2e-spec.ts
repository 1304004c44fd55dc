import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppProcess, freePort, startAppProcess } from './helpers/app-process';
import { CallbackSink } from './helpers/callback-sink';
import { tempDir, waitFor } from './helpers/create-test-app';
import { expectOnlyWindowDoubles, settleAccepted, startSignedLoad } from './helpers/signed-load';

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
    app = await startAppProcess(env);
    const load = startSignedLoad({
      target: () => `http://127.0.0.1:${port}`,
      senders: 4,
      payload: (n) =>
        n % 2 === 0
          ? { callbackBase: sink.url, event: 'content_ready', data: { title: 'Crash test', body: 'text' } }
          : { callbackBase: sink.url, event: 'entities_extracted', data: { entities: [{ name: 'Ada', type: 'person' }] } },
    });
    const { accepted } = load;
    await waitFor('deliveries and callbacks before the kill', () => (accepted.size >= 60 && sink.requests.length >= 30) || undefined, 30_000);
    const acceptedBeforeKill = accepted.size;
    await app.kill('SIGKILL');
    // Taken once the exit is observed: a killed process sends nothing later, so any first copy of a
    // double must have arrived before this moment.
    const killedAt = Date.now();
    await sleep(200);
    app = await startAppProcess(env);
    await waitFor('deliveries after the restart', () => accepted.size >= acceptedBeforeKill + 60 || undefined, 30_000);
    await load.stop();

    const doubles = await settleAccepted(dbFile, accepted, sink, 20_000);
    expectOnlyWindowDoubles(doubles, [killedAt]);
    process.stdout.write(
      `crash test: sent ${load.sent()}, answered 200: ${accepted.size} (${acceptedBeforeKill} before the kill), ` +
        `callbacks: ${sink.requests.length}, doubles: ${doubles.length}` +
        (doubles.length
          ? ` (first copies answered ${doubles.map((d) => killedAt - d[0].receivedAt).join(', ')} ms before the kill; success not yet committed)`
          : '') +
        '\n',
    );
  });
});
