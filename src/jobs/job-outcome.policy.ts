import { setMaxListeners } from 'node:events';
import { Logger } from '@nestjs/common';
import { ClaimedDelivery, DeliveryStateRepository } from '../deliveries/delivery-state.repository';
import { backoffDelay, BackoffOptions } from './backoff';
import { DeliveryJobHandler, JobContext, PermanentJobError } from './job-queue.port';

/** What becomes of a run that did not complete. */
export type JobOutcome =
  | { kind: 'retry'; runAt: number; error: string }
  /** Failed for good: `onDead` has run (the error callback), the row is to be marked dead. */
  | { kind: 'dead'; error: string }
  /** Interrupted by shutdown, not failed: runnable again at once, by this instance's successor or another. */
  | { kind: 'release' };

export interface OutcomePolicy extends BackoffOptions {
  maxAttempts: number;
}

/**
 * The signal shutdown aborts, shared by every running job. A job listens on it at most once at a time (a callback's
 * pause before its next attempt), so up to `concurrency` listeners are normal: past Node's default of 10 it would
 * print a memory-leak warning whenever more than ten callbacks wait to retry, e.g. while ModelRiver is down.
 */
export function drainingController(concurrency: number): AbortController {
  const controller = new AbortController();
  setMaxListeners(Math.max(10, concurrency), controller.signal);
  return controller;
}

export const outcomePolicy = (config: { maxAttempts: number; backoffBaseMs: number; backoffMaxMs: number }): OutcomePolicy => ({
  maxAttempts: config.maxAttempts,
  baseMs: config.backoffBaseMs,
  maxMs: config.backoffMaxMs,
});

/** An error as stored and logged: a permanent failure is already worded for operators; others keep their class name. */
export const describeError = (error: unknown): string => {
  if (error instanceof PermanentJobError) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
};

/**
 * The one rule both queue drivers follow when a run throws: a permanent failure is final; otherwise shutdown
 * releases the job (it ran out of time, it did not fail); otherwise it retries with backoff until its last
 * attempt. `attempt` counts claims, so a job whose worker died on every attempt also ends.
 */
export function decideOutcome(
  error: Error,
  attempt: number,
  stopping: boolean,
  policy: OutcomePolicy,
  now = Date.now(),
  random?: () => number,
): { kind: 'retry'; runAt: number; error: string } | { kind: 'dead' } | { kind: 'release' } {
  if (error instanceof PermanentJobError) return { kind: 'dead' };
  if (stopping) return { kind: 'release' };
  if (attempt >= policy.maxAttempts) return { kind: 'dead' };
  return { kind: 'retry', runAt: now + backoffDelay(attempt, policy, random), error: describeError(error) };
}

/**
 * Renews a claimed run's lease while it lasts (a third of the lease apart), so only a dead process lets it expire.
 * Returns the stop. A renewal that fails is left to the next one; the run's own writes are fenced by its token.
 */
export function keepLease(state: DeliveryStateRepository, claim: ClaimedDelivery, leaseMs: number): () => void {
  const renew = setInterval(() => void state.extendLease(claim, Date.now() + leaseMs).catch(() => undefined), Math.max(50, Math.floor(leaseMs / 3)));
  return () => clearInterval(renew);
}

/** What a driver supplies for one claimed run besides the claim. */
export interface RunOptions {
  policy: OutcomePolicy;
  /** Aborted once shutdown starts: the run is then released rather than failed (JobContext.draining). */
  draining: AbortSignal;
  /** Aborted when the run is abandoned (shutdown's grace is over). */
  signal: AbortSignal;
  /** Resolves once everything the run wrote since its claim is durable (JobContext.persisted). */
  persisted: () => Promise<void>;
  logger: Logger;
}

/**
 * One run of a claimed delivery, the same for both drivers: the handler, then the outcome policy, each
 * transition written to the row and fenced by the claim's token. A claim past QUEUE_MAX_ATTEMPTS (crashes used
 * every attempt up before a run could finish) takes the error path without running the job again. `onDead`
 * runs once per dead outcome, before the row is marked dead; its own failure is logged, and the delivery still
 * ends. The driver then does its own part of the outcome (BullMQ moves the job; the embedded queue arms its timer).
 */
export async function runClaimed(
  handler: DeliveryJobHandler,
  claim: ClaimedDelivery,
  state: DeliveryStateRepository,
  options: RunOptions,
): Promise<JobOutcome | { kind: 'completed' }> {
  const { logger, policy } = options;
  const deliveryId = claim.deliveryId;
  const job = { deliveryId };
  const context: JobContext = {
    attempt: claim.attempt,
    maxAttempts: policy.maxAttempts,
    draining: options.draining,
    signal: options.signal,
    persisted: options.persisted,
    claimed: claim.row,
    claimedPayload: claim.payload,
  };
  try {
    if (claim.attempt > policy.maxAttempts) {
      throw new PermanentJobError(`gave up after ${claim.attempt - 1} interrupted attempts (QUEUE_MAX_ATTEMPTS ${policy.maxAttempts})`);
    }
    const completion = await handler.handle(job, context);
    await state.complete(claim, Date.now(), completion ?? {});
    completion?.announce?.();
    return { kind: 'completed' };
  } catch (thrown) {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    const outcome = decideOutcome(error, claim.attempt, options.draining.aborted, policy);
    switch (outcome.kind) {
      case 'release':
        await state.release(claim, Date.now());
        logger.log(`released delivery ${deliveryId} (attempt ${claim.attempt}): shutting down; it runs again at once elsewhere or on the next start`);
        return outcome;
      case 'retry':
        await state.retryAt(claim, outcome.runAt, outcome.error, Date.now());
        logger.warn(`delivery ${deliveryId} run ${claim.attempt} of ${policy.maxAttempts} failed, next in ${outcome.runAt - Date.now()} ms: ${outcome.error}`);
        return outcome;
      case 'dead': {
        const reason = describeError(error);
        logger.error(`delivery ${deliveryId} failed for good (run ${claim.attempt} of ${policy.maxAttempts}): ${reason}`);
        let announce: (() => void) | undefined;
        try {
          announce = (await handler.onDead(job, error, context))?.announce;
        } catch (deadError) {
          logger.error(`delivery ${deliveryId} error path failed: ${describeError(deadError)}`);
        }
        await state.markDead(claim, reason, Date.now());
        announce?.();
        return { kind: 'dead', error: reason };
      }
    }
  }
}
