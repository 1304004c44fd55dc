import { freePort } from './app-process';
import { startTestApp, TestApp, waitFor } from './create-test-app';

export interface SandboxTestApp extends TestApp {
  sandboxUrl: string;
  control<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T>;
  generate(body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  request(channelId: string): Promise<Record<string, unknown>>;
  waitForStatus(channelId: string, statuses: string[]): Promise<Record<string, unknown>>;
}

/** The real app with the built-in sandbox as its ModelRiver, time-scaled so retries take milliseconds. */
export async function startSandboxApp(env: Record<string, string> = {}): Promise<SandboxTestApp> {
  const port = await freePort();
  const app = await startTestApp({
    MODELRIVER_SANDBOX: 'true',
    SANDBOX_PORT: String(port),
    SANDBOX_TIME_FACTOR: '0.001',
    SANDBOX_LATENCY_MS: '20',
    ...env,
  });
  const sandboxUrl = `http://127.0.0.1:${port}`;
  const call = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const self: SandboxTestApp = {
    ...app,
    sandboxUrl,
    async control<T>(path: string, body?: unknown) {
      const init: RequestInit = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
      return (await call(`${sandboxUrl}/__sandbox${path}`, init)).body as T;
    },
    generate: (body, headers = {}) =>
      call(`${app.url}/ai/generate`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
    async request(channelId) {
      return (await call(`${app.url}/ai/requests/${channelId}`)).body;
    },
    waitForStatus(channelId, statuses) {
      return waitFor(`request ${channelId} to reach ${statuses.join('|')}`, async () => {
        const view = await self.request(channelId);
        return statuses.includes(view.status as string) ? view : undefined;
      });
    },
  };
  return self;
}
