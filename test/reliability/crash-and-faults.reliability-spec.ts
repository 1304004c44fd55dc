import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { AppProcess, freePort, startAppProcess } from '../helpers/app-process';
import { CallbackSink } from '../helpers/callback-sink';
import { lockDatabase, startTestApp, tempDir, waitFor } from '../helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';
import { expectOnlyWindowDoubles, settleAccepted, startSignedLoad } from '../helpers/signed-load';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('crash loop: five kill -9 under continuous signed load', () => {
  it('every delivery answered 200 ends completed with one success callback (repeats only inside the window)', async () => {
    const dir = tempDir('mr-crashloop-');
    const sink = await new CallbackSink().start();
    const port = String(await freePort());
    const env = { PORT: port, DATABASE_URL: `sqlite:${join(dir, 'loop.db')}`, QUEUE_LEASE_MS: '2000' };
    const kills: number[] = [];
    let app: AppProcess | undefined;
    try {
      app = await startAppProcess(env);
      const load = startSignedLoad({
        target: () => `http://127.0.0.1:${port}`,
        senders: 4,
        payload: (n) =>
          n % 2
            ? { callbackBase: sink.url, event: 'entities_extracted', data: { entities: [{ name: 'Ada' }] } }
            : { callbackBase: sink.url, event: 'content_ready', data: { title: 'Loop', body: 'text' } },
      });
      const { accepted, statuses } = load;
      for (let kill = 0; kill < 5; kill++) {
        await sleep(300 + Math.floor(Math.random() * 900));
        await app.kill('SIGKILL');
        kills.push(Date.now());
        app = await startAppProcess(env);
      }
      await sleep(500);
      await load.stop();
      const doubles = await settleAccepted(env.DATABASE_URL.slice('sqlite:'.length), accepted, sink);
      const causes = expectOnlyWindowDoubles(doubles, kills);
      expect([...statuses.keys()].filter((status) => status >= 500)).toEqual([]);
      process.stdout.write(
        `\ncrash loop: kills ${kills.length}, deliveries answered 200 ${accepted.size}, callbacks ${sink.requests.length}, ` +
          `doubles ${doubles.length}, 5xx 0` +
          (causes.length ? ` (all inside the at-least-once window: first copies ${Math.min(...causes)}–${Math.max(...causes)} ms before a kill)` : '') +
          '\n',
      );
    } finally {
      await app?.kill();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('faults', () => {
  it('callback target down longer than the budget: error path, dead, visible through the admin API', async () => {
    const admin = 'admin-token-for-reliability-0123456';
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ ADMIN_TOKEN: admin, CALLBACK_BUDGET_MS: '1500', CALLBACK_TIMEOUT_MS: '200', CALLBACK_RETRY_BASE_MS: '20' });
    try {
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      sink.script(payload.channel_id as string, ...Array<503>(100).fill(503));
      const body = JSON.stringify(payload);
      const { delivery_id: id } = (await (await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).json()) as { delivery_id: string };
      const listed = await waitFor('the delivery to show as dead', async () => {
        const page = (await (await fetch(`${app.url}/admin/deliveries?status=dead`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { items: { id: string }[] };
        return page.items.find((item) => item.id === id);
      });
      expect(listed).toMatchObject({ status: 'dead', callback_status: 'error_failed' });
      const detail = (await (await fetch(`${app.url}/admin/deliveries/${id}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { callback_attempts: { kind: string; status_code: number }[] };
      expect(detail.callback_attempts.filter((a) => a.kind === 'result').length).toBeGreaterThanOrEqual(2);
      expect(detail.callback_attempts.at(-1)).toMatchObject({ kind: 'error', status_code: 503 });
      process.stdout.write(`\nfaults: callback down → ${detail.callback_attempts.length} attempts, dead, error callback tried once\n`);
    } finally {
      await app.close();
      await sink.close();
    }
  });

  it('storage unavailable: 503 with Retry-After, then recovery without a restart', async () => {
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ DATABASE_BUSY_TIMEOUT_MS: '100' });
    try {
      const lock = await lockDatabase(app.dbFile);
      const payload = aiGeneratedPayload({ callbackBase: sink.url });
      const body = JSON.stringify(payload);
      const post = () => fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
      const refused = await post();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      lock.release();
      expect((await post()).status).toBe(200);
      await waitFor('the callback', () => (sink.for(payload.channel_id as string).length ? true : undefined));
    } finally {
      await app.close();
      await sink.close();
    }
  });
});

describe('slow clients', () => {
  it('slow-header and slow-body connections are cut while other clients are served', async () => {
    const sink = await new CallbackSink().start();
    const app = await startTestApp({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000' });
    const { port } = new URL(app.url);
    const slow = (first: string, drip: string | undefined) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let answer = '';
        let timer: NodeJS.Timeout | undefined;
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('close', () => {
          clearInterval(timer);
          resolve(answer.split('\r\n')[0] || '(closed)');
        });
        socket.on('error', () => undefined);
        socket.write(first);
        if (drip) timer = setInterval(() => socket.writable && socket.write(drip), 300);
      });
    try {
      const slowHeaders = slow('POST /webhooks/modelriver HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n', 'X-Slow: 1\r\n');
      const slowBody = slow('POST /webhooks/modelriver HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{', ' ');
      // Meanwhile, others are served normally.
      let served = 0;
      for (let i = 0; i < 10; i++) {
        const payload = aiGeneratedPayload({ callbackBase: sink.url });
        const body = JSON.stringify(payload);
        if ((await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).status === 200) served++;
        await sleep(100);
      }
      expect(served).toBe(10);
      const [headersOutcome, bodyOutcome] = await Promise.all([slowHeaders, slowBody]);
      // Node answers 408 (or just closes) once the headers or the request take too long.
      expect(headersOutcome).toMatch(/^(HTTP\/1\.1 408|\(closed\))/);
      expect(bodyOutcome).toMatch(/^(HTTP\/1\.1 408|\(closed\))/);
      process.stdout.write(`\nslow clients: slow headers → ${headersOutcome}; slow body → ${bodyOutcome}; others served ${served}/10\n`);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});
