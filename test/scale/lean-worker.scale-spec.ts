import { randomBytes } from 'node:crypto';
import { Job, Queue, Worker, WorkerOptions } from 'bullmq';
import IORedis from 'ioredis';
import { LeanWorker } from '../../src/jobs/lean-worker';
import { waitFor } from '../helpers/create-test-app';
import { REDIS_BASE_URL, REDIS_TEST_DB } from '../helpers/scale-env';

// A job the skipped fetch left behind would wait for the next blocking pop to time out: make that longer than the
// test may run, so such a job fails the test instead of slowing it.
const DRAIN_DELAY_S = 600;
// The workers' periodic stalled-job check is a script on a timer, not a job's cost: where a test outlasts BullMQ's
// 30 s default (a slow machine), one can land inside the counted window and be counted as the jobs'. Only the check
// at start-up runs, before anything is counted.
const STALLED_INTERVAL_MS = DRAIN_DELAY_S * 1000;

type WorkerClass = new (name: string, processor: (job: Job) => Promise<void>, options: WorkerOptions) => Worker;

/** Lua script calls (evalsha) and blocking pops (bzpopmin) the whole Redis server has run, from INFO commandstats. */
async function calls(redis: IORedis): Promise<{ scripts: number; pops: number }> {
  const stats = await redis.info('commandstats');
  const count = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { scripts: count('evalsha'), pops: count('bzpopmin') };
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

  /** A queue and `workers` workers of one kind on it (each with Redis clients of its own, like instances). */
  function start(kind: WorkerClass, processed: string[], options: { workers?: number; concurrency?: number; run?: (job: Job) => Promise<void> } = {}) {
    const name = `lean-${randomBytes(4).toString('hex')}`;
    const queueConnection = redis.duplicate();
    const queue = new Queue(name, { connection: queueConnection, defaultJobOptions: { removeOnComplete: true } });
    closers.push(async () => queueConnection.disconnect(), () => queue.close());
    const run = options.run ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
    const workers = Array.from({ length: options.workers ?? 1 }, () => {
      const connection = redis.duplicate();
      const worker = new kind(
        name,
        async (job: Job) => {
          await run(job);
          processed.push(job.id!);
        },
        { connection, concurrency: options.concurrency ?? 8, drainDelay: DRAIN_DELAY_S, stalledInterval: STALLED_INTERVAL_MS },
      );
      // BullMQ leaves connections it was given open.
      closers.push(async () => connection.disconnect(), () => worker.close());
      return worker;
    });
    const completed = (id: string) =>
      new Promise<void>((resolve) => {
        const listeners = workers.map((worker) => {
          const listener = (job: Job) => {
            if (job.id !== id) return;
            workers.forEach((w, i) => w.off('completed', listeners[i]));
            resolve();
          };
          worker.on('completed', listener);
          return listener;
        });
      });
    return { queue, workers, worker: workers[0], completed };
  }

  /** Adds jobs one at a time, each after the previous completed; returns the Redis calls per job. */
  async function oneAtATime(kind: WorkerClass, count: number, workerCount = 1) {
    const processed: string[] = [];
    const { queue, workers, completed } = start(kind, processed, { workers: workerCount });
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    const warm = completed('warm-up'); // the workers' start-up scripts (stalled check) are not the jobs' cost
    await queue.add('job', {}, { jobId: 'warm-up' });
    await warm;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await calls(redis);
    for (let i = 0; i < count; i++) {
      const done = completed(`job-${i}`);
      await queue.add('job', {}, { jobId: `job-${i}` });
      await done;
      await new Promise((resolve) => setTimeout(resolve, 20)); // the workers' loops settle on their blocking pops
    }
    const after = await calls(redis);
    return { scripts: (after.scripts - before.scripts) / count, pops: (after.pops - before.pops) / count, processed, workers };
  }

  it('at a light load takes each job with two Redis calls fewer than BullMQ’s Worker, and no job waits', async () => {
    const lean = await oneAtATime(LeanWorker, 20);
    const plain = await oneAtATime(Worker, 20);
    // Per job: the add, the fetch that hands it out, the completion (3 scripts), and the pop that wakes the worker.
    // BullMQ's own worker also asks again at once after each job it gets, and its fetch re-sets the wake-up marker,
    // so it pops once more and fetches once more (5 scripts, 2 pops).
    expect(lean.scripts).toBeLessThanOrEqual(3.1);
    expect(lean.pops).toBeLessThanOrEqual(1.1);
    expect(plain.scripts - lean.scripts).toBeGreaterThanOrEqual(1.9);
    expect(plain.pops - lean.pops).toBeGreaterThanOrEqual(0.9);
    expect((lean.workers[0] as LeanWorker).skippedFetches).toBeGreaterThanOrEqual(20);
    expect(lean.processed).toEqual(['warm-up', ...Array.from({ length: 20 }, (_, i) => `job-${i}`)]);
  });

  it('with two workers (two instances), a job wakes only the worker that takes it', async () => {
    const lean = await oneAtATime(LeanWorker, 20, 2);
    // With BullMQ's script the marker re-set after each hand-out wakes the other worker: 4 scripts and 2 pops.
    expect(lean.scripts).toBeLessThanOrEqual(3.1);
    expect(lean.pops).toBeLessThanOrEqual(1.1);
    expect([...lean.processed].sort()).toEqual(['warm-up', ...Array.from({ length: 20 }, (_, i) => `job-${i}`)].sort());
  });

  it('a job still waiting after a hand-out wakes another worker at once', async () => {
    // Two workers with one slot each, both blocked on the wake-up marker. Two jobs arrive in one transaction, so
    // they set one marker and wake one worker. The first job holds its worker until the second job runs, which it
    // can only do on the other worker, woken by the marker the fetch re-set because a job was left waiting. (Were
    // the marker not re-set, the other worker would sleep for DRAIN_DELAY_S and this test would time out.)
    let secondStarted!: () => void;
    const second = new Promise<void>((resolve) => (secondStarted = resolve));
    const processed: string[] = [];
    const { queue, workers, completed } = start(LeanWorker, processed, {
      workers: 2,
      concurrency: 1,
      run: async (job) => {
        if (job.id === 'second') secondStarted();
        else await second;
      },
    });
    await Promise.all(workers.map((worker) => new Promise<void>((resolve) => worker.once('drained', () => resolve()))));
    const done = Promise.all([completed('first'), completed('second')]);
    const transaction = (await queue.client).multi();
    for (const id of ['first', 'second']) void new Job(queue, 'job', {}, { jobId: id }, id).addJob(transaction);
    expect((await transaction.exec())?.every(([error]) => error === null)).toBe(true);
    await done;
    expect(processed).toEqual(['second', 'first']);
  }, 10_000);

  it('with every slot taken by its last fetch, the fetch after the next wake-up is a real one', async () => {
    // One slot: the fetch that hands out the first job fills it, so no fetch follows to be skipped. The job's own
    // completion then finds the queue empty and the worker waits on the marker. The second job's marker wakes it: that
    // fetch must run (were it skipped, the job would wait DRAIN_DELAY_S, and this test time out).
    const processed: string[] = [];
    const { queue, worker, completed } = start(LeanWorker, processed, { concurrency: 1 });
    await new Promise<void>((resolve) => worker.once('drained', () => resolve()));
    for (const id of ['first', 'second', 'third']) {
      const done = completed(id);
      await queue.add('job', {}, { jobId: id });
      await done;
    }
    expect(processed).toEqual(['first', 'second', 'third']);
  }, 10_000);

  it('under a burst runs every job once, and takes a lone job at once afterwards', async () => {
    const processed: string[] = [];
    const { queue, worker, completed } = start(LeanWorker, processed);
    await worker.waitUntilReady();
    const last = completed('burst-299');
    await queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `burst-${i}` } })));
    await last;
    await waitFor('every job of the burst', () => (processed.length >= 300 ? true : undefined));
    expect(new Set(processed).size).toBe(300);
    expect(processed).toHaveLength(300);
    // Idle again: a lone job is still taken at once (a stranded one would wait DRAIN_DELAY_S and time out).
    const lone = completed('lone');
    await queue.add('job', {}, { jobId: 'lone' });
    await lone;
  });
});
