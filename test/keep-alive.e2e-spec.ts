import { rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, startAppProcess } from './helpers/app-process';
import { startTestApp, tempDir, TestApp, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection read by hand: what the server sent, and whether (and when) it closed the connection. */
function openConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
  });
}

type Connection = Awaited<ReturnType<typeof openConnection>>;

/** The complete answers (head and Content-Length body) in what a connection received so far. */
function answers(raw: string): { status: number; headers: Record<string, string> }[] {
  const found: { status: number; headers: Record<string, string> }[] = [];
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return found;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + length) return found;
    found.push({ status: Number(statusLine.split(' ')[1]), headers });
    rest = rest.slice(end + 4 + length);
  }
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`;

describe('keep-alive connections', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('answers say how long an idle connection is kept (72 s), and one idle longer than the headers timeout still serves', async () => {
    app = await startTestApp({ HTTP_HEADERS_TIMEOUT_MS: '1000' });
    const port = Number(new URL(app.url).port);
    const connection = await openConnection(port);
    try {
      connection.socket.write(get('/health/live'));
      await waitFor('the first answer', () => (answers(connection.received()).length === 1 ? true : undefined));
      expect(answers(connection.received())[0]).toMatchObject({ status: 200, headers: { connection: 'keep-alive', 'keep-alive': 'timeout=72' } });
      // Idle past the headers timeout and past Node's 1 s check of it: an idle connection is not a slow request.
      await sleep(2500);
      connection.socket.write(get('/health/live'));
      await waitFor('the second answer on the same connection', () => (answers(connection.received()).length === 2 ? true : undefined));
      expect(answers(connection.received())[1].status).toBe(200);
      expect(connection.socket.destroyed).toBe(false);
    } finally {
      connection.socket.destroy();
    }
  });

  it('/metrics counts connections, not requests: a kept-alive connection counts once (modelriver_http_connections_total)', async () => {
    app = await startTestApp();
    const port = Number(new URL(app.url).port);
    /** Sends `paths` one after the other on `connection`; the counter as the last of them (/metrics) read it. */
    const counted = async (connection: Connection, paths: string[]) => {
      const before = answers(connection.received()).length;
      for (const path of paths) connection.socket.write(get(path));
      await waitFor('the answers', () => (answers(connection.received()).length === before + paths.length ? true : undefined));
      const readings = [...connection.received().matchAll(/^modelriver_http_connections_total (\d+)$/gm)];
      return Number(readings.at(-1)![1]);
    };
    const first = await openConnection(port);
    let second: Connection | undefined;
    try {
      const start = await counted(first, ['/metrics']);
      expect(await counted(first, ['/health/live', '/health/live', '/metrics'])).toBe(start);
      second = await openConnection(port);
      expect(await counted(second, ['/metrics'])).toBe(start + 1);
    } finally {
      first.socket.destroy();
      second?.socket.destroy();
    }
  });

  it('HTTP_KEEP_ALIVE_TIMEOUT_MS: the server closes a connection idle that long, and says so in its answers', async () => {
    app = await startTestApp({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000' });
    const connection = await openConnection(Number(new URL(app.url).port));
    try {
      connection.socket.write(get('/health/live'));
      await waitFor('the answer', () => (answers(connection.received()).length === 1 ? true : undefined));
      expect(answers(connection.received())[0].headers['keep-alive']).toBe('timeout=1');
      let closed = false;
      void connection.closed.then(() => (closed = true));
      // Bounded: the timeout plus Node's check interval, with room for a slow machine.
      await waitFor('the server to close the idle connection', () => (closed ? true : undefined), 10_000);
    } finally {
      connection.socket.destroy();
    }
  });
});

describe('keep-alive connections at shutdown', () => {
  it('a request still arriving when the server closes is answered, then its connection closed: the process exits 0 at once, not after the keep-alive timeout', async () => {
    const dir = tempDir('mr-keepalive-');
    const port = await freePort();
    const app = await startAppProcess({ PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'keepalive.db')}`, QUEUE_SHUTDOWN_GRACE_MS: '500', LOG_LEVEL: 'error' });
    const body = JSON.stringify(aiGeneratedPayload());
    const head = Object.entries({ ...signedHeaders(body), 'content-length': String(Buffer.byteLength(body)) })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const connection = await openConnection(port);
    try {
      // The request begins before SIGTERM; its body ends only once the server no longer takes connections.
      connection.socket.write(`POST /webhooks/modelriver HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n${head}\r\n${body.slice(0, 20)}`);
      await sleep(200);
      const exit = app.kill('SIGTERM');
      await waitFor(
        'the server to stop taking connections',
        () =>
          new Promise<true | undefined>((resolve) => {
            const probe = connect(port, '127.0.0.1');
            probe.once('connect', () => (probe.destroy(), resolve(undefined)));
            probe.once('error', () => resolve(true));
          }),
        10_000,
      );
      connection.socket.write(body.slice(20));
      await waitFor('the answer', () => (answers(connection.received()).length === 1 ? true : undefined));
      // Whatever it says (stored, or 503 once storage has closed), it is a complete answer and then the end.
      expect([200, 503]).toContain(answers(connection.received())[0].status);
      const code = await exit;
      // On failure, the app's last lines say what it waited for.
      expect({ code, output: code === 0 ? '' : app.output().slice(-4000) }).toEqual({ code: 0, output: '' });
      await connection.closed;
    } finally {
      connection.socket.destroy();
      await app.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
