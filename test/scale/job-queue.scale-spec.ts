import { Worker } from 'bullmq';
import { describeJobQueueContract } from '../contracts/job-queue.contract';
import { freshBackends } from '../helpers/scale-env';

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
