import { Inject, Injectable, Logger } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { queueConfig, QueueConfig, redisConfig, RedisConfig } from '../config/configuration';
import { WRITE_BARRIER } from '../database/database.module';
import { WriteBarrier } from '../database/group-commit-sqlite.driver';
import { backoffDelay } from './backoff';
import { DeliveryStateRepository } from './delivery-state.repository';
import { DeliveryJob, DeliveryJobHandler, JobContext, JobQueue, PermanentJobError } from './job-queue.port';

export const QUEUE_NAME = 'modelriver-deliveries';
const SWEEP_BATCH = 100;

const message = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** Refuses a Redis that may evict keys: an evicted job is a lost delivery. */
export async function checkEvictionPolicy(redis: IORedis, logger: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const answer = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = answer[1];
  } catch (error) {
    logger.warn(`cannot read Redis maxmemory-policy (${message(error)}); make sure it is noeviction`);
    return;
  }
  if (policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is ${policy}: BullMQ needs noeviction, or queued deliveries can be evicted`);
  }
}

/**
 * The scale profile's queue: BullMQ on Redis, one job per delivery (jobId = delivery id, so enqueueing twice
 * is harmless). The producer fails fast (no offline queue), so intake answers 503 while Redis is down; the
 * worker connection retries forever. Stalled jobs (a dead worker) return to the queue after the lock expires;
 * a sweeper re-enqueues rows whose job Redis lost.
 */
@Injectable()
export class BullMqJobQueue implements JobQueue {
  private readonly logger = new Logger(BullMqJobQueue.name);
  private handler?: DeliveryJobHandler;
  private producer?: IORedis;
  private workerConnection?: IORedis;
  private queue?: Queue;
  private worker?: Worker;
  private sweeper?: NodeJS.Timeout;
  private readonly draining = new AbortController();
  private readonly running = new Map<string, AbortController>();

  constructor(
    @Inject(queueConfig.KEY) private readonly config: QueueConfig,
    @Inject(redisConfig.KEY) private readonly redis: RedisConfig,
    private readonly state: DeliveryStateRepository,
    @Inject(WRITE_BARRIER) private readonly barrier: WriteBarrier,
  ) {}

  setHandler(handler: DeliveryJobHandler): void {
    if (this.handler) throw new Error('JobQueue already has a handler: exactly one may process deliveries');
    this.handler = handler;
  }

  async start(): Promise<void> {
    if (!this.handler) throw new Error('JobQueue has no handler: nothing would process deliveries');
    this.producer = new IORedis(this.redis.url!, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 });
    this.producer.on('error', () => undefined); // surfaced as failed enqueues (503), not as crashes
    await new Promise<void>((resolve, reject) => {
      this.producer!.once('ready', resolve);
      this.producer!.once('error', reject);
    });
    await checkEvictionPolicy(this.producer, this.logger);
    this.queue = new Queue(QUEUE_NAME, {
      connection: this.producer,
      defaultJobOptions: {
        attempts: this.config.maxAttempts,
        // The same backoff with jitter as the embedded driver (see settings.backoffStrategy).
        backoff: { type: 'custom' },
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.queue.on('error', () => undefined);
    this.workerConnection = new IORedis(this.redis.url!, { maxRetriesPerRequest: null });
    this.workerConnection.on('error', () => undefined);
    this.worker = new Worker(QUEUE_NAME, (job: Job<DeliveryJob>) => this.process(job), {
      connection: this.workerConnection,
      concurrency: this.config.concurrency,
      lockDuration: this.config.leaseMs,
      stalledInterval: Math.max(500, Math.floor(this.config.leaseMs / 2)),
      maxStalledCount: this.config.maxAttempts,
      settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs }) },
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${message(error)}`));
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, this.config.pollIntervalMs * 10));
    this.sweeper.unref();
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    if (!this.worker || this.draining.signal.aborted) return { ok: false, detail: 'BullMQ worker not running' };
    try {
      await this.producer!.ping();
      return { ok: this.worker.isRunning(), detail: `BullMQ worker running, Redis answers` };
    } catch (error) {
      return { ok: false, detail: `Redis: ${message(error)}` };
    }
  }

  async enqueue(job: DeliveryJob): Promise<void> {
    if (!this.queue) throw new Error('queue not started');
    await this.queue.add('delivery', job, { jobId: job.deliveryId });
  }

  async stop(): Promise<void> {
    this.draining.abort();
    clearInterval(this.sweeper);
    if (this.worker) {
      let graceTimer: NodeJS.Timeout | undefined;
      const closed = this.worker.close();
      await Promise.race([closed, new Promise((resolve) => (graceTimer = setTimeout(resolve, this.config.shutdownGraceMs)))]);
      clearTimeout(graceTimer);
      // Past the grace time: abandon what still runs; its lock expires and another worker takes it.
      for (const abort of this.running.values()) abort.abort();
      await this.worker.close(true).catch(() => undefined);
    }
    await this.queue?.close().catch(() => undefined);
    // quit() waits for pending replies; disconnect() would reject them ("Connection is closed").
    for (const connection of [this.producer, this.workerConnection]) await connection?.quit().catch(() => undefined);
  }

  private async process(job: Job<DeliveryJob>): Promise<void> {
    const handler = this.handler!;
    const { deliveryId } = job.data;
    const attempt = job.attemptsMade + 1;
    const abort = new AbortController();
    this.running.set(deliveryId, abort);
    const mark = this.barrier.mark();
    const context: JobContext = {
      attempt,
      maxAttempts: this.config.maxAttempts,
      draining: this.draining.signal,
      signal: abort.signal,
      persisted: () => this.barrier.synced(mark),
    };
    try {
      context.claimed = await this.state.processing(deliveryId, attempt);
      await handler.handle({ deliveryId }, context);
      await this.state.completed(deliveryId);
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      const final = cause instanceof PermanentJobError || attempt >= this.config.maxAttempts;
      if (!final || (this.draining.signal.aborted && !(cause instanceof PermanentJobError))) {
        const delay = backoffDelay(attempt, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs });
        await this.state.retrying(deliveryId, message(cause), Date.now() + delay).catch(() => undefined);
        this.logger.warn(`delivery ${deliveryId} attempt ${attempt} failed: ${message(cause)}`);
        throw cause; // BullMQ schedules the retry
      }
      this.logger.error(`delivery ${deliveryId} failed for good after attempt ${attempt}: ${message(cause)}`);
      try {
        await handler.onDead({ deliveryId }, cause, context);
      } catch (deadError) {
        this.logger.error(`delivery ${deliveryId} error path failed: ${message(deadError)}`);
      }
      await this.state.dead(deliveryId, message(cause));
    } finally {
      this.running.delete(deliveryId);
    }
  }

  /** Re-creates jobs Redis lost (restart without persistence, eviction) and revives ones it failed on its own. */
  private async sweep(): Promise<void> {
    if (!this.queue || this.draining.signal.aborted) return;
    try {
      // Only jobs missing from Redis (or failed outside our handler) are touched, so a short floor is safe.
      const before = Date.now() - Math.max(5000, this.config.leaseMs * 3);
      for (const id of await this.state.stale(before, SWEEP_BATCH)) {
        const job = await this.queue.getJob(id);
        if (!job) {
          await this.queue.add('delivery', { deliveryId: id }, { jobId: id });
          this.logger.warn(`re-enqueued delivery ${id}: its job was missing from Redis`);
        } else if (await job.isFailed()) {
          await job.retry();
          this.logger.warn(`revived delivery ${id}: BullMQ had failed it outside our handler`);
        }
      }
    } catch (error) {
      this.logger.warn(`sweep failed: ${message(error)}`);
    }
  }
}
