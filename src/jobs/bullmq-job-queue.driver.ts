import { Inject, Injectable, Logger } from '@nestjs/common';
import { DelayedError, Job, Queue, WaitingError } from 'bullmq';
import IORedis from 'ioredis';
import { settledWithin } from '../common/settled-within';
import { queueConfig, QueueConfig, redisConfig, RedisConfig } from '../config/configuration';
import { WRITE_BARRIER } from '../database/database.module';
import { WriteBarrier } from '../database/write-barrier';
import { ClaimedDelivery, DeliveryStateRepository } from '../deliveries/delivery-state.repository';
import { MetricsService } from '../metrics/metrics.service';
import { backoffDelay } from './backoff';
import { describeError, drainingController, JobOutcome, keepLease, outcomePolicy, OutcomePolicy, runClaimed } from './job-outcome.policy';
import { DeliveryJob, DeliveryJobHandler, JobQueue, SlotReservation } from './job-queue.port';
import { slotReservation } from './slot-reservation';
import { LeanWorker, MARKER_PATCHED } from './lean-worker';

export const QUEUE_NAME = 'modelriver-deliveries';
const SWEEP_BATCH = 100;
/** After the grace time, how long aborted runs may take to hand their jobs back before the worker is forced shut. */
const ABANDON_WAIT_MS = 1000;

/** Refuses a Redis that may evict keys: an evicted job is a lost delivery. */
export async function checkEvictionPolicy(redis: IORedis, logger: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const answer = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = answer[1];
  } catch (error) {
    logger.warn(`cannot read Redis maxmemory-policy (${describeError(error)}); make sure it is noeviction`);
    return;
  }
  if (policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is ${policy}: BullMQ needs noeviction, or queued deliveries can be evicted`);
  }
}

/**
 * The scale profile's queue: BullMQ on Redis, one job per delivery (jobId = delivery id, so enqueueing twice
 * is harmless). The producer fails fast (no offline queue), so intake answers 503 while Redis is down; the
 * worker connection retries forever.
 *
 * BullMQ carries the job and its lock; the delivery row decides its fate. Every run claims the row
 * (attempts + 1, a fencing token), so crashes count as attempts even though BullMQ's attemptsMade does not
 * count stalls, and a run whose job was handed to another worker can change nothing. The outcome policy
 * (job-outcome.policy.ts) is the embedded driver's: a retry moves the job to BullMQ's delayed set, a release
 * (shutdown) back to waiting, and a dead delivery completes its job, so BullMQ itself never fails one. A
 * stalled job (dead worker) returns to the queue once its lock expires; a sweeper re-enqueues rows whose job
 * Redis lost, and re-runs jobs BullMQ failed on its own (the claim count ends them if they keep failing).
 *
 * While this instance has a free slot and its worker knows of no waiting job, intake skips Redis altogether
 * (reserveSlot, as in the embedded profile): the row goes in already claimed, with a lease this instance renews,
 * and runs here at once. Only a run that does not complete becomes a BullMQ job: a retry a delayed one, a release
 * (shutdown) a waiting one. If the instance dies, the lease expires and the sweeper hands the row to BullMQ.
 * That saves, per delivery, the claim statement and four Redis calls (add, pop, fetch, finish), and with them half
 * the process wake-ups of a paced delivery (bench/HISTORY.md). Under a backlog new deliveries queue behind it.
 */
@Injectable()
export class BullMqJobQueue implements JobQueue {
  private readonly logger = new Logger(BullMqJobQueue.name);
  private handler?: DeliveryJobHandler;
  private producer?: IORedis;
  private workerConnection?: IORedis;
  private queue?: Queue;
  private worker?: LeanWorker<DeliveryJob>;
  private sweeper?: NodeJS.Timeout;
  private readonly draining: AbortController;
  /** Runs in progress, BullMQ's and local ones (reserveSlot's), and local hand-backs: what shutdown waits for. */
  private readonly running = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  /** Slots intake reserved for rows it is inserting (reserveSlot): taken, though not running yet. */
  private reserved = 0;
  /** Local runs in progress (reserveSlot's, counted apart from BullMQ's). */
  private runningLocally = 0;
  private readonly policy: OutcomePolicy;
  private stopped?: Promise<void>;

  constructor(
    @Inject(queueConfig.KEY) private readonly config: QueueConfig,
    @Inject(redisConfig.KEY) private readonly redis: RedisConfig,
    private readonly state: DeliveryStateRepository,
    @Inject(WRITE_BARRIER) private readonly barrier: WriteBarrier,
    private readonly metrics: MetricsService,
  ) {
    this.policy = outcomePolicy(config);
    this.draining = drainingController(config.concurrency);
  }

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
        // Our runs never fail a job (see process); these attempts cover only infrastructure errors around a
        // run (the database down during the claim), with the same backoff with jitter.
        attempts: this.config.maxAttempts,
        backoff: { type: 'custom' },
        // The delivery row is the record; a finished job is only Redis memory and cleanup work. (A replay
        // re-adds it: JobQueue.requeue.) Jobs BullMQ failed on its own stay a week for inspection.
        removeOnComplete: true,
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.queue.on('error', () => undefined);
    this.workerConnection = new IORedis(this.redis.url!, { maxRetriesPerRequest: null });
    this.workerConnection.on('error', () => undefined);
    this.worker = new LeanWorker(QUEUE_NAME, (job: Job<DeliveryJob>, token?: string) => this.process(job, token), {
      connection: this.workerConnection,
      concurrency: this.config.concurrency,
      lockDuration: this.config.leaseMs,
      stalledInterval: Math.max(500, Math.floor(this.config.leaseMs / 2)),
      // The claim count ends a job whose worker keeps dying (after maxAttempts claims, one more takes the error
      // path): BullMQ must not fail it first, or the error callback would never be sent.
      maxStalledCount: this.config.maxAttempts + 1,
      settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade, this.policy) },
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${describeError(error)}`));
    if (!MARKER_PATCHED) {
      this.logger.warn("this BullMQ's moveToActive script is not the one LeanWorker adapts: it runs unchanged, at about two more Redis calls per job");
    }
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, this.config.pollIntervalMs * 10));
    this.sweeper.unref();
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    if (!this.worker || this.draining.signal.aborted) return { ok: false, detail: 'BullMQ worker not running' };
    try {
      await this.producer!.ping();
      return { ok: this.worker.isRunning(), detail: `BullMQ worker running, Redis answers` };
    } catch (error) {
      return { ok: false, detail: `Redis: ${describeError(error)}` };
    }
  }

  reserveSlot(now: number): SlotReservation | undefined {
    // Redis must answer: a run that does not complete needs it, and intake promises 503 while it is down.
    if (!this.worker?.queueSeemsEmpty || this.producer?.status !== 'ready' || this.draining.signal.aborted) return undefined;
    if (this.running.size + this.reserved >= this.config.concurrency) return undefined;
    this.reserved++;
    this.shareSlots();
    return slotReservation(now, this.config.leaseMs, {
      free: () => {
        this.reserved--;
        this.shareSlots();
      },
      run: (claim, mark) => {
        if (!this.draining.signal.aborted) return this.runLocal(claim, mark);
        // Shutdown began while the row went in: hand it to BullMQ unrun (shutdown waits for this before closing).
        const done = this.state
          .release(claim, Date.now())
          .then(() => this.handOff(claim.deliveryId, { kind: 'release' }))
          .catch((error: unknown) => this.logger.warn(`could not hand back delivery ${claim.deliveryId}: ${describeError(error)}; the sweeper will`))
          .finally(() => this.running.delete(claim.deliveryId));
        this.running.set(claim.deliveryId, { abort: new AbortController(), done });
      },
    });
  }

  /**
   * QUEUE_CONCURRENCY bounds local and BullMQ runs together: the worker fetches only into the slots local runs leave
   * (at least one, so a queue never stalls behind local runs).
   */
  private shareSlots(): void {
    if (this.worker) this.worker.concurrency = Math.max(1, this.config.concurrency - this.reserved - this.runningLocally);
  }

  async enqueue(job: DeliveryJob): Promise<void> {
    if (!this.queue) throw new Error('queue not started');
    await this.queue.add('delivery', job, { jobId: job.deliveryId });
  }

  /** A finished delivery's job is kept a while (removeOnComplete), and adding it again would be a no-op: rerun it. */
  async requeue(job: DeliveryJob): Promise<void> {
    if (!this.queue) throw new Error('queue not started');
    const existing = await this.queue.getJob(job.deliveryId);
    const state = existing ? await existing.getState() : 'missing';
    if (state === 'missing') await this.enqueue(job);
    else if (state === 'completed' || state === 'failed') await existing!.retry(state);
    // waiting, delayed or active: it runs (again) anyway, and its claim reads the reset row
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.draining.abort();
    clearInterval(this.sweeper);
    if (this.worker) {
      // close() stops fetching and waits for running jobs; past the grace time they are aborted, hand their
      // jobs back (release), and only then is the worker forced shut.
      const closed = this.worker.close();
      const runs = () => [...this.running.values()].map((run) => run.done);
      await settledWithin([closed, ...runs()], this.config.shutdownGraceMs);
      for (const { abort } of this.running.values()) abort.abort();
      await settledWithin([closed, ...runs()], ABANDON_WAIT_MS);
      await this.worker.close(true).catch(() => undefined);
    }
    await this.queue?.close().catch(() => undefined);
    // quit() waits for pending replies; disconnect() would reject them ("Connection is closed").
    for (const connection of [this.producer, this.workerConnection]) await connection?.quit().catch(() => undefined);
  }

  private async process(job: Job<DeliveryJob>, token?: string): Promise<void> {
    const { deliveryId } = job.data;
    const mark = this.barrier.mark();
    const claim = await this.state.claim(deliveryId, Date.now());
    if (!claim) return; // finished already (a duplicate job, or one the sweeper re-added), or a local run holds it
    this.metrics.runs.inc({ start: 'queue' });
    const abort = new AbortController();
    const run = this.run(claim, mark, abort.signal);
    this.running.set(deliveryId, { abort, done: run });
    try {
      const outcome = await run;
      // The row says what happens next; BullMQ is told without counting a failed attempt of its own.
      if (outcome.kind === 'retry') {
        await job.moveToDelayed(outcome.runAt, token);
        throw new DelayedError();
      }
      if (outcome.kind === 'release') {
        await job.moveToWait(token);
        throw new WaitingError();
      }
    } finally {
      this.running.delete(deliveryId);
    }
  }

  /** One run of a claim (`mark`: the write barrier's mark taken before the claim, the run's first write). */
  private run(claim: ClaimedDelivery, mark: number, signal: AbortSignal) {
    return runClaimed(this.handler!, claim, this.state, {
      policy: this.policy,
      draining: this.draining.signal,
      signal,
      persisted: () => this.barrier.synced(mark),
      logger: this.logger,
    });
  }

  /** A run intake started (reserveSlot): renews its lease while it runs; one that does not complete becomes a BullMQ job. */
  private runLocal(claim: ClaimedDelivery, mark: number): void {
    this.metrics.runs.inc({ start: 'intake' });
    this.runningLocally++;
    this.shareSlots();
    const abort = new AbortController();
    const stopRenewing = keepLease(this.state, claim, this.config.leaseMs);
    const done = this.run(claim, mark, abort.signal)
      .then((outcome) => this.handOff(claim.deliveryId, outcome))
      .catch((error: unknown) => this.logger.error(`delivery ${claim.deliveryId} run failed: ${describeError(error)}; the sweeper re-queues it`))
      .finally(() => {
        stopRenewing();
        this.running.delete(claim.deliveryId);
        this.runningLocally--;
        this.shareSlots();
      });
    this.running.set(claim.deliveryId, { abort, done });
  }

  /** What BullMQ takes over from a local run: a retry as a delayed job, a release as a waiting one. */
  private async handOff(deliveryId: string, outcome: JobOutcome | { kind: 'completed' }): Promise<void> {
    if (outcome.kind !== 'retry' && outcome.kind !== 'release') return;
    const delay = outcome.kind === 'retry' ? Math.max(0, outcome.runAt - Date.now()) : 0;
    try {
      await this.queue!.add('delivery', { deliveryId }, { jobId: deliveryId, delay });
    } catch (error) {
      // The row keeps its next run time: the sweeper re-adds a job once it is due (and untouched for 3 x QUEUE_LEASE_MS).
      this.logger.warn(`could not queue delivery ${deliveryId} for its next run (${describeError(error)}); the sweeper will`);
    }
  }

  /**
   * Re-creates jobs Redis lost (restart without persistence, eviction), queues the rows of local runs whose
   * instance died (their lease expired), and re-runs jobs that finished while their delivery did not (BullMQ failed
   * one on its own; a replay whose requeue did not happen).
   */
  private async sweep(): Promise<void> {
    if (!this.queue || this.draining.signal.aborted) return;
    try {
      // Only rows whose job is missing from Redis (or failed outside our runs) are touched; a running job's
      // lock keeps it active, so a short floor is safe.
      const now = Date.now();
      const before = now - Math.max(5000, this.config.leaseMs * 3);
      for (const id of await this.state.stale(before, now, SWEEP_BATCH)) {
        const job = await this.queue.getJob(id);
        const state = job ? await job.getState() : 'missing';
        if (state === 'missing') {
          await this.queue.add('delivery', { deliveryId: id }, { jobId: id });
          this.logger.warn(`re-enqueued delivery ${id}: its job was missing from Redis`);
        } else if (state === 'completed' || state === 'failed') {
          await job!.retry(state);
          this.logger.warn(`re-ran delivery ${id}: its job had ${state} while the delivery had not`);
        }
      }
    } catch (error) {
      this.logger.warn(`sweep failed: ${describeError(error)}`);
    }
  }
}
