import { Queue, Worker } from 'bullmq';
import { describeJobQueueContract, QueueInstance, rowOf, startQueue, storeDelivery } from '../contracts/job-queue.contract';
import { waitFor } from '../helpers/create-test-app';
import { freshBackends, ScaleBackends } from '../helpers/scale-env';

describeJobQueueContract('BullMQ (PostgreSQL + Redis)', {
  async env() {
    const backends = await freshBackends();
    return { env: { DATABASE_URL: backends.databaseUrl, REDIS_URL: backends.redisUrl }, cleanup: () => backends.drop() };
  },
  // A dead process stops renewing its lock (BullMQ's stalled check hands the job to another worker) and
  // writes nothing more.
  async crash(instance) {
    const worker = (instance.queue as unknown as { worker: Worker }).worker;
    await worker.close(true);
    await instance.db.destroy();
  },
  // The sweeper looks at rows untouched for 3 x QUEUE_LEASE_MS (at least 5 s), every second.
  quietMs: 7000,
});

describe('BullMQ sweeper: rows whose job Redis lost', () => {
  let backends: ScaleBackends;
  let instance: QueueInstance | undefined;

  beforeEach(async () => {
    backends = await freshBackends();
  });
  afterEach(async () => {
    await instance?.moduleRef.close();
    instance = undefined;
    await backends.drop();
  });

  it('re-queues a retry once it is due, not before, and a backlog of later retries does not hide a due row', async () => {
    instance = await startQueue({ DATABASE_URL: backends.databaseUrl, REDIS_URL: backends.redisUrl });
    const now = Date.now();
    const retry = { status: 'retrying', attempts: 1 } as const;
    // Two retries whose delayed jobs Redis lost (a restart without persistence): one due in 3 s, one due now.
    const soon = await storeDelivery(instance.db, { ...retry, next_run_at: now + 3000, updated_at: now - 120_000 });
    const due = await storeDelivery(instance.db, { ...retry, next_run_at: now - 1000, updated_at: now - 30_000 });
    // More retries than one sweep looks at, older than the due one, whose delayed jobs are still in Redis.
    const bullmq = (instance.queue as unknown as { queue: Queue }).queue;
    const later: string[] = [];
    for (let i = 0; i < 120; i++) {
      const id = await storeDelivery(instance.db, { ...retry, next_run_at: now + 600_000, updated_at: now - 60_000 });
      await bullmq.add('delivery', { deliveryId: id }, { jobId: id, delay: 600_000 });
      later.push(id);
    }

    await waitFor('both due rows to complete', async () => {
      const rows = await Promise.all([rowOf(instance!.db, soon), rowOf(instance!.db, due)]);
      return rows.every((row) => row.status === 'completed') || undefined;
    }, 15_000);
    const [soonRun] = instance.handler.runs(soon);
    expect(soonRun.attempt).toBe(2);
    expect(soonRun.at).toBeGreaterThanOrEqual(now + 3000);
    expect(instance.handler.runs(due)).toHaveLength(1);
    // The backlog still waits for its time, untouched.
    expect(instance.handler.calls.filter((call) => later.includes(call.deliveryId))).toHaveLength(0);
    expect(await rowOf(instance.db, later[0])).toMatchObject({ status: 'retrying', attempts: 1 });
  });
});
