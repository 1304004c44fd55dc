import { Inject, Injectable, Logger } from '@nestjs/common';
import { settledWithin } from '../common/settled-within';
import { queueConfig, QueueConfig } from '../config/configuration';
import { WRITE_BARRIER } from '../database/database.module';
import { WriteBarrier } from '../database/write-barrier';
import { ClaimedDelivery, DeliveryStateRepository } from '../deliveries/delivery-state.repository';
import { MetricsService } from '../metrics/metrics.service';
import { describeError, drainingController, keepLease, outcomePolicy, OutcomePolicy, runClaimed } from './job-outcome.policy';
import { DeliveryJob, DeliveryJobHandler, JobQueue, SlotReservation } from './job-queue.port';
import { slotReservation } from './slot-reservation';

/** After the grace time, how long an aborted run may take to release itself before stop() releases it. */
const ABANDON_WAIT_MS = 1000;

/**
 * Durable in-process queue over the deliveries table. Enqueue wakes the worker at once (no polling delay on
 * the happy path); a timer sweeps for due retries and expired leases. Running jobs renew their lease, so
 * only a dead process lets a lease expire.
 *
 * The worker claims only when there may be something to claim: after an enqueue, a timer, or a job's end
 * while the last claim filled every free slot (a backlog). A retry it schedules sets the timer itself (the
 * embedded profile is one process per database file, so no one else makes rows due), and the timer's sweep
 * reads the earliest due row from the table, the safety net for everything else.
 *
 * While no stored delivery waits, intake skips the queue altogether: it reserves a free slot (reserveSlot), inserts
 * the row already claimed, and hands it over to run on the next turn, with the payload it parsed. A run so started is like
 * any other claimed run: fenced by its token, renewed, recovered after a crash, released on shutdown.
 */
@Injectable()
export class EmbeddedJobQueue implements JobQueue {
  private readonly logger = new Logger(EmbeddedJobQueue.name);
  private handler?: DeliveryJobHandler;
  private readonly running = new Map<string, { job: ClaimedDelivery; done: Promise<void>; abort: AbortController }>();
  /** Slots intake reserved for rows it is inserting (reserveSlot): taken, though not running yet. */
  private reserved = 0;
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
  private readonly draining: AbortController;
  private readonly policy: OutcomePolicy;
  private stopped?: Promise<void>;

  constructor(
    private readonly store: DeliveryStateRepository,
    @Inject(queueConfig.KEY) private readonly config: QueueConfig,
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

  enqueue(_job: DeliveryJob): Promise<void> {
    // The stored row is the job; all that is left is to wake the worker.
    this.backlog = true;
    this.wake();
    return Promise.resolve();
  }

  reserveSlot(now: number): SlotReservation | undefined {
    // Not while rows wait to be claimed (they go first) or a claim is under way (its free slots are counted).
    if (!this.started || this.stopping || this.backlog || this.pumping) return undefined;
    if (this.running.size + this.reserved >= this.config.concurrency) return undefined;
    this.reserved++;
    return slotReservation(now, this.config.leaseMs, {
      free: () => this.reserved--,
      run: (job, mark) => {
        if (this.stopping) {
          // Stopping since the reservation: hand the row back to run on the next start (after a crash, recovery does).
          void this.store.release(job, Date.now()).catch((error: unknown) => this.logger.warn(`could not release delivery ${job.deliveryId}: ${describeError(error)}`));
          return;
        }
        this.launch(job, mark, 'intake');
      },
      released: () => {
        if (this.backlog) this.wake();
      },
    });
  }

  /** The row was reset to queued: waking the worker is all it takes. */
  requeue(job: DeliveryJob): Promise<void> {
    return this.enqueue(job);
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

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.draining.abort();
    clearTimeout(this.timer);
    await this.pumped; // a claim in flight either launches its jobs (awaited below) or hands them back
    if (this.running.size === 0) return;
    this.logger.log(`waiting up to ${this.config.shutdownGraceMs} ms for ${this.running.size} running jobs`);
    await settledWithin([...this.running.values()].map((entry) => entry.done), this.config.shutdownGraceMs);
    // Past the grace time: abandon what still runs. An aborted run releases itself (runJob: shutdown means
    // release); one that does not settle soon is released here, its later writes fenced out by the token.
    for (const { abort } of this.running.values()) abort.abort();
    await settledWithin([...this.running.values()].map((entry) => entry.done), ABANDON_WAIT_MS);
    const now = Date.now();
    for (const { job } of this.running.values()) {
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
        while (!this.stopping && (this.backlog || expiredLeases) && this.busySlots() < this.config.concurrency) {
          const free = this.config.concurrency - this.busySlots();
          // Cleared before the claim: an enqueue while it runs sets it again (and asks for another round).
          this.backlog = false;
          const mark = this.barrier.mark(); // the claim is each job's first write
          const jobs = await this.store.claimDue(Date.now(), this.config.leaseMs, free, expiredLeases);
          if (this.stopping) {
            for (const job of jobs) await this.store.release(job, Date.now());
            break;
          }
          for (const job of jobs) this.launch(job, mark, 'queue');
          if (jobs.length < free) break;
          this.backlog = true; // every free slot taken: more may be waiting
        }
        if (sweep && !this.stopping && this.busySlots() < this.config.concurrency) {
          const due = await this.store.nextDueAt();
          if (due !== undefined) this.arm(due);
        }
      } while (this.pumpAgain && !this.stopping);
      this.arm(Date.now() + this.config.pollIntervalMs);
    } catch (error) {
      this.logger.error(`claiming jobs failed: ${describeError(error)}`);
      this.arm(Date.now() + this.config.pollIntervalMs * 4);
    } finally {
      this.pumping = false;
    }
  }

  private busySlots(): number {
    return this.running.size + this.reserved;
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

  private launch(job: ClaimedDelivery, mark: number, start: 'intake' | 'queue'): void {
    this.metrics.runs.inc({ start });
    const abort = new AbortController();
    const done = this.run(job, abort.signal, mark)
      .catch((error: unknown) => this.logger.error(`delivery ${job.deliveryId} run failed: ${describeError(error)}`))
      .finally(() => {
        this.running.delete(job.deliveryId);
        if (this.backlog) this.wake();
      });
    this.running.set(job.deliveryId, { job, done, abort });
  }

  private async run(job: ClaimedDelivery, signal: AbortSignal, mark: number): Promise<void> {
    const stopRenewing = keepLease(this.store, job, this.config.leaseMs);
    try {
      const outcome = await runClaimed(this.handler!, job, this.store, {
        policy: this.policy,
        draining: this.draining.signal,
        signal,
        persisted: () => this.barrier.synced(mark),
        logger: this.logger,
      });
      // This process makes every embedded row due (one process per database file): wake for the retry.
      if (outcome.kind === 'retry') this.arm(outcome.runAt);
    } finally {
      stopRenewing();
    }
  }
}
