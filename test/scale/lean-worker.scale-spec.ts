import { randomBytes } from 'node:crypto';
import { Job, Queue, Worker, WorkerOptions } from 'bullmq';
import IORedis from 'ioredis';
import { LeanWorker } from '../../src/jobs/lean-worker';
import { waitFor } from '../helpers/create-test-app';
import { REDIS_BASE_URL, REDIS_TEST_DB } from '../helpers/scale-env';

// A job the skipped fetch left behind would wait for the next blocking pop to time out: make that longer than the
// test may run, so such a job fails the test instead of slowing it.
const DRAIN_DELAY_S = 600;

type WorkerClass = new (name: string, processor: (job: Job) => Promise<void>, options: WorkerOptions) => Worker;

/** Lua script calls (evalsha) the whole Redis server has run, from INFO commandstats. */
async function scriptCalls(redis: IORedis): Promise<number> {
  const match = /cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'));
  return Number(match?.[1] ?? 0);
}

describe('LeanWorker (BullMQ worker on Redis)', () => {
  let redis: IORedis;
  const closers: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    redis = new IORedis(`${REDIS_BASE_URL}/${REDIS_TEST_DB}`, { maxRetriesPerRequest: null });
    await redis.flushdb();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    redis.disconnect();
  });

  function start(kind: WorkerClass, processed: string[]) {
    const name = `lean-${randomBytes(4).toString('hex')}`;
    const [queueConnection, workerConnection] = [redis.duplicate(), redis.duplicate()];
    const queue = new Queue(name, { connection: queueConnection, defaultJobOptions: { removeOnComplete: true } });
    const worker = new kind(
      name,
      async (job: Job) => {
        await new Promise((resolve) => setImmediate(resolve));
        processed.push(job.id!);
      },
      { connection: workerConnection, concurrency: 8, drainDelay: DRAIN_DELAY_S },
    );
    // BullMQ leaves connections it was given open.
    closers.push(
      async () => queueConnection.disconnect(),
      async () => workerConnection.disconnect(),
      () => queue.close(),
      () => worker.close(),
    );
    const completed = (id: string) =>
      new Promise<void>((resolve) => {
        const listener = (job: Job) => job.id === id && (worker.off('completed', listener), resolve());
        worker.on('completed', listener);
      });
    return { queue, worker, completed };
  }

  /** Adds jobs one at a time, each after the previous completed; returns the scripts Redis ran for them. */
  async function oneAtATime(kind: WorkerClass, count: number): Promise<{ perJob: number; processed: string[]; worker: Worker }> {
    const processed: string[] = [];
    const { queue, worker, completed } = start(kind, processed);
    await worker.waitUntilReady();
    const warm = completed('warm-up'); // the worker's start-up scripts (stalled check) are not the jobs' cost
    await queue.add('job', {}, { jobId: 'warm-up' });
    await warm;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await scriptCalls(redis);
    for (let i = 0; i < count; i++) {
      const done = completed(`job-${i}`);
      await queue.add('job', {}, { jobId: `job-${i}` });
      await done;
      await new Promise((resolve) => setTimeout(resolve, 20)); // the worker's loop settles on its blocking pop
    }
    const perJob = (await scriptCalls(redis)) - before;
    return { perJob: perJob / count, processed, worker };
  }

  it('at a light load takes each job with one script fewer than BullMQ’s Worker, and no job waits', async () => {
    const lean = await oneAtATime(LeanWorker, 20);
    const plain = await oneAtATime(Worker, 20);
    // Per job: the add, the fetch that hands it out, the fetch after the wake-up marker, the completion (4);
    // the plain worker also asks again at once after each job it gets (5).
    expect(lean.perJob).toBeLessThanOrEqual(4.1);
    expect(plain.perJob - lean.perJob).toBeGreaterThanOrEqual(0.9);
    expect((lean.worker as LeanWorker).skippedFetches).toBeGreaterThanOrEqual(20);
    expect(lean.processed).toEqual(['warm-up', ...Array.from({ length: 20 }, (_, i) => `job-${i}`)]);
  });

  it('under a burst runs every job once and stops skipping while the queue is busy', async () => {
    const processed: string[] = [];
    const { queue, worker, completed } = start(LeanWorker, processed);
    await worker.waitUntilReady();
    const warm = completed('warm-up');
    await queue.add('job', {}, { jobId: 'warm-up' });
    await warm; // the worker now expects an idle queue
    const skippedBefore = (worker as LeanWorker).skippedFetches;
    const last = completed('burst-299');
    await queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `burst-${i}` } })));
    await last;
    await waitFor('every job of the burst', () => (processed.length >= 301 ? true : undefined));
    expect(new Set(processed).size).toBe(301);
    expect(processed).toHaveLength(301);
    // One skip tells it the queue is busy, and it fills its other slots with real fetches (skipping every time
    // would take 7 skips, each costing a blocking pop); it skips again only once a fetch finds nothing.
    expect((worker as LeanWorker).skippedFetches - skippedBefore).toBeLessThanOrEqual(2);
    // Idle again: a lone job is still taken at once (a stranded one would wait DRAIN_DELAY_S and time out).
    const lone = completed('lone');
    await queue.add('job', {}, { jobId: 'lone' });
    await lone;
  });
});
