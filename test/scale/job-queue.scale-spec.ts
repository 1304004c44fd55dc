import { Worker } from 'bullmq';
import { describeJobQueueContract } from '../contracts/job-queue.contract';
import { freshBackends } from '../helpers/scale-env';

describeJobQueueContract('BullMQ (PostgreSQL + Redis)', {
  async env() {
    const backends = await freshBackends();
    return { env: { DATABASE_URL: backends.databaseUrl, REDIS_URL: backends.redisUrl }, cleanup: () => backends.drop() };
  },
  // A dead process stops renewing its lock; BullMQ's stalled check hands the job to another worker.
  async crash(instance) {
    const worker = (instance.queue as unknown as { worker: Worker }).worker;
    await worker.close(true);
  },
});
