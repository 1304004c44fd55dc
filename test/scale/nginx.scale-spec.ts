import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { AppProcess, freePort } from '../helpers/app-process';
import { CallbackSink } from '../helpers/callback-sink';
import { waitFor } from '../helpers/create-test-app';
import { metricSample } from '../helpers/metrics';
import { NginxProcess, startNginx } from '../helpers/nginx';
import { useScaleCluster } from '../helpers/scale-env';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

/** host:port of an instance, or of a stand-in for one. */
const hostOf = (target: AppProcess | CallbackSink) => new URL(target.url).host;

/**
 * docker-compose.yml's load balancer: the committed deploy/nginx.conf (only its host names, port and temp paths
 * changed, see startNginx) in front of two instances of the built app on one PostgreSQL + Redis. Every request here
 * comes from one address, as ModelRiver's webhooks do.
 */
describe('deploy/nginx.conf', () => {
  let nginx: NginxProcess | undefined;
  afterEach(async () => {
    await nginx?.stop();
    nginx = undefined;
  });

  describe('in front of two instances', () => {
    const cluster = useScaleCluster();

    it('spreads webhooks from one address over both instances, on connections it keeps open; a large one passes whole', async () => {
      const [a, b] = [await cluster.start(), await cluster.start()];
      nginx = await startNginx({ app1: hostOf(a), app2: hostOf(b) });
      const counts = async (app: AppProcess) => ({
        accepted: (await metricSample(app.url, 'modelriver_webhooks_total{outcome="accepted",reason=""}')) ?? 0,
        // Absent would make the difference below NaN, which fails.
        connections: Number(await metricSample(app.url, 'modelriver_http_connections_total')),
      });
      const before = [await counts(a), await counts(b)];
      const channels: string[] = [];
      // 60 webhooks, four at a time.
      for (let round = 0; round < 15; round++) {
        const answers = await Promise.all(
          Array.from({ length: 4 }, async () => {
            const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
            channels.push(payload.channel_id as string);
            const body = JSON.stringify(payload);
            return (await fetch(`${nginx!.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(5000) })).status;
          }),
        );
        expect(answers).toEqual([200, 200, 200, 200]);
      }
      // A large one (nginx buffers its body in a file on the way) arrives byte for byte: its signature matches.
      const large = aiGeneratedPayload({ callbackBase: cluster.sink.url, data: { title: 'Large', body: 'Long text. '.repeat(60_000) } });
      channels.push(large.channel_id as string);
      const largeBody = JSON.stringify(large);
      expect((await fetch(`${nginx.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(largeBody), body: largeBody, signal: AbortSignal.timeout(5000) })).status).toBe(200);
      await waitFor('every callback', () => (channels.every((channel) => cluster.sink.for(channel).length === 1) ? true : undefined), 15_000);
      const after = [await counts(a), await counts(b)];
      const accepted = after.map((count, i) => count.accepted - before[i].accepted);
      expect(accepted[0] + accepted[1]).toBe(61);
      // Balanced by requests in flight, not by the sender's address (which would put all 60 on one instance).
      expect(Math.min(...accepted)).toBeGreaterThanOrEqual(15);
      // Kept alive: at most one connection per request in flight (four), and the scrape's own, on each instance;
      // a connection per request would be ~30 each.
      const opened = after.map((count, i) => count.connections - before[i].connections);
      expect(opened[0]).toBeLessThanOrEqual(6);
      expect(opened[1]).toBeLessThanOrEqual(6);
      expect(nginx.output()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    });

    it('sends a webhook that one instance refused with 503 to the other at once, and never resends another POST', async () => {
      // Stand-ins for an instance that refuses everything, as one shutting down does (503 + Retry-After, nothing stored).
      const refusing = () => new CallbackSink({ reply: { status: 503, headers: { 'retry-after': '5' } } }).start();
      const post = async (path: string, body: string, headers: Record<string, string>) => {
        const answer = await fetch(`${nginx!.url}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
        return { status: answer.status, retryAfter: answer.headers.get('retry-after') };
      };
      const [first, second] = [await refusing(), await refusing()];
      const standIns = [first, second];
      // What the stand-ins were sent, and forgetting it.
      const seen = () => standIns.flatMap((sink) => sink.requests.map((request) => `${request.method} ${request.path}`));
      const forget = () => standIns.forEach((sink) => (sink.requests.length = 0));
      try {
        // Both refuse, as when the cluster is too far behind: each webhook is tried on both, and the refusal (with its
        // Retry-After) reaches the sender; neither instance is taken out of rotation for it, so nothing becomes nginx's
        // own 502. /ai/generate is tried on one only.
        nginx = await startNginx({ app1: hostOf(first), app2: hostOf(second) });
        forget(); // startNginx's own probe
        for (let round = 1; round <= 2; round++) {
          const body = JSON.stringify(aiGeneratedPayload({ callbackBase: cluster.sink.url }));
          expect(await post('/webhooks/modelriver', body, signedHeaders(body))).toEqual({ status: 503, retryAfter: '5' });
          expect(seen()).toEqual(Array(2 * round).fill('POST /webhooks/modelriver'));
        }
        forget();
        expect(await post('/ai/generate', JSON.stringify({ prompt: 'Once' }), { 'content-type': 'application/json' })).toEqual({ status: 503, retryAfter: '5' });
        expect(seen()).toEqual(['POST /ai/generate']);
        await nginx.stop();

        // One refuses, one works: every webhook is answered 200 and called back, however nginx picks.
        const app = await cluster.start();
        nginx = await startNginx({ app1: hostOf(first), app2: hostOf(app) });
        forget();
        const channels: string[] = [];
        for (let i = 0; i < 10; i++) {
          const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
          channels.push(payload.channel_id as string);
          const signed = JSON.stringify(payload);
          expect((await post('/webhooks/modelriver', signed, signedHeaders(signed))).status).toBe(200);
        }
        expect(seen().length).toBeGreaterThanOrEqual(1);
        await waitFor('every callback', () => (channels.every((channel) => cluster.sink.for(channel).length === 1) ? true : undefined), 15_000);
      } finally {
        await nginx?.stop();
        nginx = undefined;
        for (const sink of standIns) await sink.close();
      }
    });

    it("keeps a browser's socket.io session on one instance (long-polling, then the upgrade) and passes WebSockets through", async () => {
      const sandbox = { MODELRIVER_SANDBOX: 'true', SANDBOX_LATENCY_MS: '400', SANDBOX_TIME_FACTOR: '0.01' };
      const a = await cluster.start({ ...sandbox, SANDBOX_PORT: String(await freePort()) });
      const b = await cluster.start({ ...sandbox, SANDBOX_PORT: String(await freePort()) });
      nginx = await startNginx({ app1: hostOf(a), app2: hostOf(b) });
      const started = (await (
        await fetch(`${nginx.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Through the proxy' }) })
      ).json()) as { channel_id: string; realtime: { subscribe_token: string } };
      const subscription = { channel_id: started.channel_id, subscribe_token: started.realtime.subscribe_token };

      // socket.io's default: long-polling first (each poll a new request that must reach the session's instance), then
      // the upgrade to a WebSocket on the same instance. And a client that polls only.
      const clients = [io(`${nginx.url}/ai`, { reconnection: false }), io(`${nginx.url}/ai`, { transports: ['polling'], reconnection: false })];
      const received = clients.map(() => [] as string[]);
      clients.forEach((socket, i) => {
        socket.on('ai:response', (payload: { status: string }) => received[i].push(`response:${payload.status}`));
        socket.on('ai:processed', () => received[i].push('ai:processed'));
      });
      // The guide's plain WebSocket route, through the same proxy.
      const ws = new WebSocket(`${nginx.url.replace(/^http/, 'ws')}/ws/ai/${started.channel_id}?token=${encodeURIComponent(started.realtime.subscribe_token)}`);
      const frames: Record<string, unknown>[] = [];
      ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      try {
        for (const socket of clients) expect(await socket.timeout(5000).emitWithAck('subscribe', subscription)).toMatchObject({ ok: true });
        for (const events of received) {
          await waitFor('the completed response', () => events.includes('response:completed'), 15_000);
          await waitFor('the processed event', () => events.includes('ai:processed'), 15_000);
        }
        await waitFor('the upgrade to a WebSocket', () => clients[0].io.engine.transport.name === 'websocket');
        expect(clients[1].io.engine.transport.name).toBe('polling');
        expect(await closed).toBe(1000);
        expect(frames[0]).toMatchObject({ event: 'state', channel_id: started.channel_id });
        expect(frames.some((frame) => frame.event === 'ai:processed')).toBe(true);
        expect(nginx.output()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
      } finally {
        for (const socket of clients) socket.close();
        ws.terminate();
      }
    });
  });

  describe('during a rolling restart', () => {
    // Callbacks answered after 1.5 s: a delivery in flight keeps an instance draining for that long after SIGTERM.
    const cluster = useScaleCluster({ QUEUE_SHUTDOWN_GRACE_MS: '5000' }, { sinkDelayMs: 1500 });

    it('an instance shutting down refuses webhooks (503), nginx hands each to the other: every one is answered 200 and called back', async () => {
      const [a, b] = [await cluster.start(), await cluster.start()];
      nginx = await startNginx({ app1: hostOf(a), app2: hostOf(b) });
      const post = async (url: string, payload: Record<string, unknown>) => {
        const body = JSON.stringify(payload);
        return (await fetch(`${url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(5000) })).status;
      };
      const inFlight = aiGeneratedPayload({ callbackBase: cluster.sink.url });
      expect(await post(a.url, inFlight)).toBe(200);
      await waitFor('its callback under way', () => cluster.sink.for(inFlight.channel_id as string).length === 1);
      const exited = a.kill('SIGTERM');
      await waitFor('A draining', async () => (await fetch(`${a.url}/health/ready`)).status === 503);

      const channels: string[] = [];
      for (let i = 0; i < 10; i++) {
        const payload = aiGeneratedPayload({ callbackBase: cluster.sink.url });
        channels.push(payload.channel_id as string);
        expect(await post(nginx.url, payload)).toBe(200);
      }
      // nginx did try A (least_conn alternates between idle instances), and A refused what it was given.
      expect(await metricSample(a.url, 'modelriver_webhooks_total{outcome="rejected",reason="draining"}')).toBeGreaterThanOrEqual(1);
      expect(await exited).toBe(0);
      await waitFor('every callback', () => (channels.every((channel) => cluster.sink.for(channel).length === 1) ? true : undefined), 15_000);
    });
  });
});
