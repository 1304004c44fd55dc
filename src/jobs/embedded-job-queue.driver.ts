import { Inject, Injectable, Logger } from '@nestjs/common';
import { queueConfig, QueueConfig } from '../config/configuration';
import { WRITE_BARRIER } from '../database/database.module';
import { WriteBarrier } from '../database/group-commit-sqlite.driver';
import { backoffDelay } from './backoff';
import { ClaimedJob, EmbeddedQueueRepository } from './embedded-queue.repository';
import { DeliveryJob, DeliveryJobHandler, JobContext, JobQueue, PermanentJobError } from './job-queue.port';

const errorMessage = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * Durable in-process queue over the deliveries table. Enqueue wakes the worker at once (no polling delay on
 * the happy path); a timer sweeps for due retries and expired leases. Running jobs renew their lease, so
 * only a dead process lets a lease expire.
 *
 * The worker claims only when there may be something to claim: after an enqueue, a timer, or a job's end
 * while the last claim filled every free slot (a backlog). A retry it schedules sets the timer itself (the
 * embedded profile is one process per database file, so no one else makes rows due), and the timer's sweep
 * reads the earliest due row from the table, the safety net for everything else.
 */
@Injectable()
export class EmbeddedJobQueue implements JobQueue {
  private readonly logger = new Logger(EmbeddedJobQueue.name);
  private handler?: DeliveryJobHandler;
  private readonly running = new Map<string, { job: ClaimedJob; done: Promise<void>; abort: AbortController }>();
  private started = false;
  private stopping = false;
  private pumping = false;
  private pumpAgain = false;
  private pumped: Promise<void> = Promise.resolve();
  /** Runnable rows may exist that no claim took: set by enqueue and the timer, and by a claim that filled every free slot. */
  private backlog = false;
  /** The timer fired: look for expired leases and read the next due time from the table. */
  private sweepDue = false;
  /** Expired leases are looked for at most once per poll interval (a wake-up needs only runnable rows). */
  private leasesSweptAt = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private readonly draining = new AbortController();

  constructor(
    private readonly store: EmbeddedQueueRepository,
    @Inject(queueConfig.KEY) private readonly config: QueueConfig,
    @Inject(WRITE_BARRIER) private readonly barrier: WriteBarrier,
  ) {}

  setHandler(handler: DeliveryJobHandler): void {
    if (this.handler) throw new Error('JobQueue already has a handler: exactly one may process deliveries');
    this.handler = handler;
  }

  enqueue(_job: DeliveryJob): Promise<void> {
    // The stored row is the job; all that is left is to wake the worker.
    this.backlog = true;
    this.wake();
    return Promise.resolve();
  }

  async start(): Promise<void> {
    if (!this.handler) throw new Error('JobQueue has no handler: nothing would process deliveries');
    const recovered = await this.store.recoverInterrupted(Date.now());
    if (recovered > 0) this.logger.warn(`recovered ${recovered} deliveries interrupted by a previous stop`);
    this.started = true;
    this.backlog = true;
    this.sweepDue = true;
    this.wake();
  }

  health(): Promise<{ ok: boolean; detail: string }> {
    const ok = this.started && !this.stopping;
    return Promise.resolve({ ok, detail: ok ? `embedded worker running ${this.running.size} jobs` : 'embedded worker not running' });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.draining.abort();
    clearTimeout(this.timer);
    await this.pumped; // a claim in flight either launches its jobs (awaited below) or hands them back
    if (this.running.size === 0) return;
    this.logger.log(`waiting up to ${this.config.shutdownGraceMs} ms for ${this.running.size} running jobs`);
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()].map((entry) => entry.done)),
      new Promise((resolve) => (graceTimer = setTimeout(resolve, this.config.shutdownGraceMs))),
    ]);
    clearTimeout(graceTimer);
    const now = Date.now();
    for (const { job, abort } of this.running.values()) {
      abort.abort();
      await this.store.release(job, now);
      this.logger.warn(`released delivery ${job.deliveryId} unfinished; it runs again on the next start`);
    }
  }

  private wake(): void {
    if (!this.started || this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pumped = new Promise((resolve) => setImmediate(resolve)).then(() => this.pump());
  }

  /** Claims while there are free slots and maybe runnable rows, then arms the timer. */
  private async pump(): Promise<void> {
    try {
      do {
        this.pumpAgain = false;
        const sweep = this.sweepDue;
        this.sweepDue = false;
        const expiredLeases = sweep && Date.now() - this.leasesSweptAt >= this.config.pollIntervalMs;
        if (expiredLeases) this.leasesSweptAt = Date.now();
        while (!this.stopping && (this.backlog || expiredLeases) && this.running.size < this.config.concurrency) {
          const free = this.config.concurrency - this.running.size;
          // Cleared before the claim: an enqueue while it runs sets it again (and asks for another round).
          this.backlog = false;
          const mark = this.barrier.mark(); // the claim is each job's first write
          const jobs = await this.store.claim(Date.now(), this.config.leaseMs, free, expiredLeases);
          if (this.stopping) {
            for (const job of jobs) await this.store.release(job, Date.now());
            break;
          }
          for (const job of jobs) this.launch(job, mark);
          if (jobs.length < free) break;
          this.backlog = true; // every free slot taken: more may be waiting
        }
        if (sweep && !this.stopping && this.running.size < this.config.concurrency) {
          const due = await this.store.nextDueAt();
          if (due !== undefined) this.arm(due);
        }
      } while (this.pumpAgain && !this.stopping);
      this.arm(Date.now() + this.config.pollIntervalMs);
    } catch (error) {
      this.logger.error(`claiming jobs failed: ${errorMessage(error)}`);
      this.arm(Date.now() + this.config.pollIntervalMs * 4);
    } finally {
      this.pumping = false;
    }
  }

  /** Makes sure the worker wakes by `at` (a timer only ever moves earlier; when it fires, the sweep re-arms it). */
  private arm(at: number): void {
    if (this.stopping || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.backlog = true;
      this.sweepDue = true;
      this.wake();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private launch(job: ClaimedJob, mark: number): void {
    const abort = new AbortController();
    const done = this.run(job, abort.signal, mark)
      .catch((error: unknown) => this.logger.error(`delivery ${job.deliveryId} run failed: ${errorMessage(error)}`))
      .finally(() => {
        this.running.delete(job.deliveryId);
        if (this.backlog) this.wake();
      });
    this.running.set(job.deliveryId, { job, done, abort });
  }

  private async run(job: ClaimedJob, signal: AbortSignal, mark: number): Promise<void> {
    const handler = this.handler!;
    const context: JobContext = {
      attempt: job.attempt,
      maxAttempts: this.config.maxAttempts,
      draining: this.draining.signal,
      signal,
      persisted: () => this.barrier.synced(mark),
      claimed: job.row,
    };
    const deliveryJob = { deliveryId: job.deliveryId };
    const renew = setInterval(
      () => void this.store.extendLease(job, Date.now() + this.config.leaseMs).catch(() => undefined),
      Math.max(50, Math.floor(this.config.leaseMs / 3)),
    );
    try {
      if (job.attempt > context.maxAttempts) {
        // Crashes used up the attempts before any run could finish: take the error path now.
        throw new PermanentJobError(`gave up after ${job.attempt - 1} interrupted attempts`);
      }
      await handler.handle(deliveryJob, context);
      await this.store.complete(job, Date.now());
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      if (this.stopping && !(cause instanceof PermanentJobError)) {
        // Interrupted by shutdown, not failed: runnable again at once on the next start.
        await this.store.release(job, Date.now());
        return;
      }
      const final = cause instanceof PermanentJobError || job.attempt >= context.maxAttempts;
      if (!final) {
        const delay = backoffDelay(job.attempt, {
          baseMs: this.config.backoffBaseMs,
          maxMs: this.config.backoffMaxMs,
        });
        this.logger.warn(`delivery ${job.deliveryId} attempt ${job.attempt} failed, retry in ${delay} ms: ${errorMessage(cause)}`);
        const runAt = Date.now() + delay;
        await this.store.retryAt(job, runAt, errorMessage(cause), Date.now());
        this.arm(runAt);
        return;
      }
      this.logger.error(`delivery ${job.deliveryId} failed for good after attempt ${job.attempt}: ${errorMessage(cause)}`);
      try {
        await handler.onDead(deliveryJob, cause, context);
      } catch (deadError) {
        this.logger.error(`delivery ${job.deliveryId} error path failed: ${errorMessage(deadError)}`);
      }
      await this.store.markDead(job, errorMessage(cause), Date.now());
    } finally {
      clearInterval(renew);
    }
  }
}
