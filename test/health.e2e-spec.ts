import { JOB_QUEUE, JobQueue } from '../src/jobs/job-queue.port';
import { startTestApp, TestApp } from './helpers/create-test-app';

describe('GET /health/live and /health/ready', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('live answers while the process runs; ready reports the database and the queue', async () => {
    expect(await (await fetch(`${app.url}/health/live`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok', info: { database: { status: 'up' }, queue: { status: 'up' } } });
  });

  it('ready goes down (503) once the worker drains', async () => {
    await app.app.get<JobQueue>(JOB_QUEUE).stop();
    const ready = await fetch(`${app.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'error', error: { queue: { status: 'down' } } });
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });
});
