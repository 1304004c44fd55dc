import { Job, RedisClient, Worker } from 'bullmq';

/**
 * BullMQ's Worker without the fetch that finds nothing when the queue is mostly idle.
 *
 * After `moveToActive` hands out a job, `Worker.mainLoop` asks for the next one at once while it has free slots.
 * Under a light load that second call (one Lua script, one round trip) finds the queue empty. It is also
 * redundant: whenever `moveToActive` hands out a job it re-adds the queue's wake-up marker
 * (`prepareJobForProcessing`). So instead of asking, this worker declares the queue drained; the loop then
 * blocks on the marker, which returns at once, and the fetch after it takes whatever is waiting: a job that
 * arrived meanwhile waits one blocking pop longer, never for the pop's timeout. That fetch is real, so the
 * delays and rate limits it reads are as fresh as before.
 *
 * Under a heavy load the skipped fetch would have found a job, and declaring the queue drained costs a blocking
 * pop instead of saving a script. So the worker skips only while the queue looks idle: the fetch after a skip
 * (or after a real fetch that followed a handed-out job) decides, found nothing = idle, found a job = busy.
 *
 * In the scale bench (two instances, 150 deliveries/s) Redis calls per delivery went from 6.4–6.5 to 5.6–6.0
 * (bench/README.md); test/scale/lean-worker.scale-spec.ts counts the scripts per job.
 */
export class LeanWorker<DataType = unknown> extends Worker<DataType> {
  private previous: 'job' | 'none' | 'skipped' = 'none';
  private queueLooksIdle = true;
  /** Fetches skipped so far (for tests and the curious). */
  skippedFetches = 0;

  protected override async moveToActive(client: RedisClient, token: string, name?: string): Promise<Job<DataType>> {
    if (this.previous === 'job' && this.queueLooksIdle) {
      this.previous = 'skipped';
      this.skippedFetches++;
      // Marks the worker drained (so it waits on the marker next) and hands out nothing.
      return this.nextJobFromJobData(undefined, undefined, token);
    }
    const job = await super.moveToActive(client, token, name);
    if (this.previous !== 'none') this.queueLooksIdle = !job;
    this.previous = job ? 'job' : 'none';
    return job;
  }
}
