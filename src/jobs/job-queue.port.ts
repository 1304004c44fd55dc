/**
 * The seam between intake and processing. The embedded driver keeps jobs in the deliveries table; the
 * scale driver keeps them in BullMQ. Both run a job the same way (job-outcome.policy.ts) and give the same
 * guarantees, proven by one contract suite: a job enqueued after its delivery is stored runs at least once,
 * retries back off, shutdown releases what is unfinished, and a job that keeps failing (or whose worker keeps
 * dying) ends dead after `maxAttempts` claims, with `onDead` called once before it is marked so.
 */
import { JsonObject } from '../common/json';
import { ClaimedRow } from '../database/database.types';
import { AttemptRecord } from '../deliveries/callback-attempts.repository';
import { CallbackStatus } from '../deliveries/deliveries.repository';

export const JOB_QUEUE = Symbol('JOB_QUEUE');

export interface DeliveryJob {
  deliveryId: string;
}

export interface JobContext {
  /** 1-based; counts every claim, including ones a crash interrupted. */
  attempt: number;
  maxAttempts: number;
  /** Aborted as soon as shutdown starts: do not begin waiting (backoff sleeps); the job is released and runs again. */
  draining: AbortSignal;
  /** Aborted when shutdown's grace time is over: abandon in-flight work too. */
  signal: AbortSignal;
  /**
   * Resolves once everything this job has written is durable; rejects if some of it may have been lost.
   * The job's own writes answer before that (see DatabaseHandles.background): call this before telling the
   * outside world anything that depends on them, such as a result callback.
   */
  persisted(): Promise<void>;
  /**
   * What the run reads of the delivery row, as this run's claim left it (the claim reads it back anyway: one
   * statement fewer for the handler). A snapshot from before `handle` ran: `onDead` must read the row again.
   */
  claimed: ClaimedRow;
  /** `claimed.payload` already parsed, when the queue had it at hand (a delivery intake handed over): parse it otherwise. */
  claimedPayload?: JsonObject;
}

/**
 * What a completed run leaves on the delivery row besides its status: written with the completion, in the same
 * statement, as soon as `handle` resolves.
 */
export interface RunCompletion {
  /** The processor's result, if this run computed it. */
  result?: JsonObject;
  callbackStatus?: CallbackStatus;
  /** The callback attempt that ended the run, recorded with the completion. */
  attempt?: AttemptRecord;
  /** Tells whoever follows the delivery, once its end is recorded (a late reader of the row then sees it too). */
  announce?: () => void;
}

export interface DeliveryJobHandler {
  /** Resolve when the job is done. Throw PermanentJobError to stop retrying; any other error retries. */
  handle(job: DeliveryJob, context: JobContext): Promise<RunCompletion | void>;
  /**
   * Called once the job has failed for good, before it is marked dead (e.g. to send the error callback). What it
   * returns to announce is announced once the delivery is marked dead.
   */
  onDead(job: DeliveryJob, error: Error, context: JobContext): Promise<{ announce?: () => void } | void>;
}

/**
 * A worker slot held for one delivery intake is about to insert (JobQueue.reserveSlot): the row goes in already
 * claimed, with `claim`'s values, and runs once it went in. Exactly one of `run` and `release` follows.
 */
export interface SlotReservation {
  /** The claim's values, for the insert: the row is this run's from the start. */
  readonly claim: { status: 'processing'; attempts: 1; lease_token: string; lease_until: number };
  /**
   * The row went in as given: run it (on the next check phase: the group commit holding the insert has its turn first).
   * `payload`: the row's payload as intake parsed it; `mark`: the write barrier's mark taken before the insert, the
   * run's first write.
   */
  run(row: ClaimedRow, payload: JsonObject, mark: number): void;
  /** The row did not go in (a duplicate, a failed insert): the slot is free again. */
  release(): void;
}

export interface JobQueue {
  /**
   * Embedded only: a free worker slot for a delivery about to be inserted, while no stored delivery waits for one
   * (those go first), else undefined; the caller then inserts it queued and enqueues it. It saves the claim
   * statement and a second parse of the payload.
   */
  reserveSlot?(now: number): SlotReservation | undefined;
  /** Makes a stored delivery runnable; idempotent per delivery id. */
  enqueue(job: DeliveryJob): Promise<void>;
  /** Makes a delivery that had finished runnable again (an operator's replay reset its row first). */
  requeue(job: DeliveryJob): Promise<void>;
  /** Exactly one handler; the queue refuses to start without one. */
  setHandler(handler: DeliveryJobHandler): void;
  start(): Promise<void>;
  /** Stops claiming, lets running jobs finish within the grace time, releases the rest for a later run. */
  stop(): Promise<void>;
  /** Started, not draining, and its backing store (Redis) answers: what readiness reports. */
  health(): Promise<{ ok: boolean; detail: string }>;
}

/** A failure that retrying cannot fix (bad data, refused callback URL): go straight to the error path. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}
