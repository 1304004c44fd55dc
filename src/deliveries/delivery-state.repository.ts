import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { JsonObject, merged } from '../common/json';
import { DatabaseHandles } from '../database/database.factory';
import { DATABASE_HANDLES } from '../database/database.module';
import { CLAIMED_COLUMNS, ClaimedRow, Database, Db } from '../database/database.types';
import { PreparedQuery, SlotOf, slotsFor } from '../database/prepared-query';
import { AttemptRecord, attemptRow } from './callback-attempts.repository';
import { CallbackStatus, UNFINISHED_STATUSES } from './deliveries.repository';

/** A delivery taken by a worker for one run. */
export interface ClaimedDelivery {
  deliveryId: string;
  /** 1-based; every claim counts, including ones a crash interrupted. */
  attempt: number;
  /** Fences this run's writes: once another claim took the row, they change nothing. */
  leaseToken: string;
  /** What the run reads of the row, as the claim left it: the handler starts from it instead of reading it again. */
  row: ClaimedRow;
  /** `row.payload` parsed, when the claim had it at hand (JobContext.claimedPayload). */
  payload?: JsonObject;
}

const RUNNABLE = ['queued', 'retrying'] as const;

type Finish = {
  status: 'completed' | 'retrying' | 'dead';
  updated_at: number;
  completed_at?: number;
  next_run_at?: number;
  last_error?: string;
  result?: string;
  callback_status?: CallbackStatus;
};

type Completion = { id: string; lease_token: string; completed_at: number; updated_at: number; result: string; callback_status: CallbackStatus };
type Attempt = ReturnType<typeof attemptRow>;
const ATTEMPT_COLUMNS = ['id', 'delivery_id', 'kind', 'attempt', 'status_code', 'duration_ms', 'outcome', 'error', 'created_at'] as const satisfies readonly (keyof Attempt)[];
const ATTEMPT_VALUES = ATTEMPT_COLUMNS.filter((column) => column !== 'id');
/** The one-statement completion (PostgreSQL): `id` is the delivery's there, so the attempt's own id is `attempt_id`. */
type CompletionWithAttempt = Completion & Omit<Attempt, 'id'> & { attempt_id: string };
/** A claim's values; a batch claim (embedded) also says how many rows, and due (or expired) before when. */
type Claim = { id: string; lease_token: string; updated_at: number; now: number };
type BatchClaim = { lease_token: string; lease_until: number; updated_at: number; limit: number; before: number };

/**
 * A delivery's run state: the transitions the queue drivers make (claim → completed | retrying | dead, or
 * released on shutdown). Every write after a claim is fenced by the claim's token, so a worker whose run was
 * taken over (its lease expired, or BullMQ handed the stalled job to another worker) can never complete or
 * fail someone else's run. The embedded profile's queue *is* this table (claimDue, leases); the scale
 * profile's BullMQ keeps the jobs and takes one row per run (claim).
 *
 * Written through the background view: a job waits for durability once, before its callback
 * (JobContext.persisted).
 */
@Injectable()
export class DeliveryStateRepository {
  private readonly db: Db;
  private readonly postgres: boolean;
  /**
   * The statements every delivery runs (its claim; its usual end: a fresh result, its callback status and the
   * delivered attempt), compiled once (see PreparedQuery). PostgreSQL writes that end in one statement, SQLite in
   * two of the same group commit.
   */
  private readonly prepared: {
    claim: PreparedQuery<Claim, ClaimedRow>;
    claimRunnable: PreparedQuery<BatchClaim, ClaimedRow>;
    claimExpired: PreparedQuery<BatchClaim, ClaimedRow>;
    completion: PreparedQuery<Completion>;
    attempt: PreparedQuery<Attempt>;
    /** PostgreSQL only (a data-modifying WITH). */
    completionWithAttempt?: PreparedQuery<CompletionWithAttempt>;
  };

  constructor(@Inject(DATABASE_HANDLES) handles: DatabaseHandles) {
    const db = handles.background;
    this.db = db;
    this.postgres = handles.dialect === 'postgres';
    const completed = (slot: SlotOf<Completion>) =>
      db
        .updateTable('webhook_deliveries')
        .set({
          status: 'completed',
          completed_at: slot('completed_at'),
          updated_at: slot('updated_at'),
          result: slot('result'),
          callback_status: slot('callback_status'),
          lease_until: null,
          lease_token: null,
        })
        .where('id', '=', slot('id'))
        .where('lease_token', '=', slot('lease_token'));
    // One token for a batch: every later write is fenced by id and token, so sharing it fences just as well.
    const claimBatch = (slot: SlotOf<BatchClaim>, condition: (w: ExpressionBuilder<Database, 'webhook_deliveries'>) => Expression<SqlBool>) =>
      db
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          status: 'processing',
          attempts: eb('attempts', '+', 1),
          lease_until: slot('lease_until'),
          lease_token: slot('lease_token'),
          updated_at: slot('updated_at'),
        }))
        .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where(condition).orderBy('next_run_at').limit(slot('limit')))
        .returning(CLAIMED_COLUMNS);
    const batchValues = ['lease_until', 'lease_token', 'updated_at', 'limit', 'before'] as const;
    this.prepared = {
      claim: new PreparedQuery(db, ['lease_token', 'updated_at', 'id', 'now'], (slot) =>
        db
          .updateTable('webhook_deliveries')
          .set((eb) => ({ status: 'processing', attempts: eb('attempts', '+', 1), lease_until: null, lease_token: slot('lease_token'), updated_at: slot('updated_at') }))
          .where('id', '=', slot('id'))
          .where('status', 'in', UNFINISHED_STATUSES)
          // Not while a local run holds a live lease (BullMqJobQueue.reserveSlot): its job is a stray.
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', slot('now'))]))
          .returning(CLAIMED_COLUMNS),
      ),
      claimRunnable: new PreparedQuery(db, batchValues, (slot) =>
        claimBatch(slot, (w) => w.and([w('status', 'in', RUNNABLE), w('next_run_at', '<=', slot('before'))])),
      ),
      claimExpired: new PreparedQuery(db, batchValues, (slot) =>
        claimBatch(slot, (w) => w.and([w('status', '=', 'processing'), w('lease_until', '<', slot('before'))])),
      ),
      completion: new PreparedQuery(db, ['completed_at', 'updated_at', 'result', 'callback_status', 'id', 'lease_token'], completed),
      attempt: new PreparedQuery(db, ATTEMPT_COLUMNS, (slot) => db.insertInto('callback_attempts').values(slotsFor(slot, ATTEMPT_COLUMNS))),
      completionWithAttempt: this.postgres
        ? new PreparedQuery(db, ['completed_at', 'updated_at', 'result', 'callback_status', 'id', 'lease_token', 'attempt_id', ...ATTEMPT_VALUES], (slot) =>
            db
              .with('completed', () => completed(slot))
              .insertInto('callback_attempts')
              .values({ ...slotsFor(slot, ATTEMPT_VALUES), id: slot('attempt_id') }),
          )
        : undefined,
    };
  }

  /**
   * Embedded: claims up to `limit` runnable deliveries in one statement, most overdue first, then (with
   * `expiredLeases`) ones whose lease expired because their worker died. Two queries, each able to use the
   * (status, next_run_at) index: one OR across both would scan the table.
   */
  async claimDue(now: number, leaseMs: number, limit: number, expiredLeases: boolean): Promise<ClaimedDelivery[]> {
    const leaseToken = randomUUID();
    const batch = { lease_token: leaseToken, lease_until: now + leaseMs, updated_at: now, before: now };
    const { claimRunnable, claimExpired } = this.prepared;
    const runnable = (await claimRunnable.execute({ ...batch, limit })).rows;
    const rows = runnable.length === limit || !expiredLeases ? runnable : [...runnable, ...(await claimExpired.execute({ ...batch, limit: limit - runnable.length })).rows];
    return rows.map((row) => ({ deliveryId: row.id, attempt: row.attempts, leaseToken, row }));
  }

  /**
   * Scale: claims one delivery for the BullMQ job that carries it, if it is unfinished (a job for a finished
   * delivery, say one the sweeper re-added, runs nothing). BullMQ's lock is the lease, so none is stored.
   */
  async claim(id: string, now: number): Promise<ClaimedDelivery | undefined> {
    const leaseToken = randomUUID();
    const [row] = (await this.prepared.claim.execute({ id, lease_token: leaseToken, updated_at: now, now })).rows;
    return row && { deliveryId: row.id, attempt: row.attempts, leaseToken, row };
  }

  /** Embedded: earliest time something becomes runnable, to sleep exactly until then. */
  async nextDueAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_run_at').as('due'))
      .where('status', 'in', RUNNABLE)
      .executeTakeFirst();
    return row?.due == null ? undefined : Number(row.due);
  }

  async extendLease(claim: ClaimedDelivery, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ lease_until: until })
      .where('id', '=', claim.deliveryId)
      .where('lease_token', '=', claim.leaseToken)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Completed, with what the run leaves on the row (its result, the callback's status) in the same statement, and
   * the callback attempt that ended it: on PostgreSQL in that statement too (a data-modifying WITH), on SQLite as
   * a second statement of the same group commit.
   */
  async complete(
    claim: ClaimedDelivery,
    now: number,
    left: { result?: JsonObject; callbackStatus?: CallbackStatus; attempt?: AttemptRecord } = {},
  ): Promise<void> {
    if (left.result !== undefined && left.callbackStatus !== undefined) {
      const completion = {
        id: claim.deliveryId,
        lease_token: claim.leaseToken,
        completed_at: now,
        updated_at: now,
        result: JSON.stringify(left.result),
        callback_status: left.callbackStatus,
      };
      const { completion: completed, attempt, completionWithAttempt } = this.prepared;
      if (!left.attempt) await completed.execute(completion);
      else {
        const attemptValues = attemptRow(claim.deliveryId, left.attempt);
        // The completion's id (the delivery's) replaces the attempt's, which goes in as attempt_id.
        if (completionWithAttempt) await completionWithAttempt.execute(merged(attemptValues, completion, { attempt_id: attemptValues.id }));
        else await Promise.all([completed.execute(completion), attempt.execute(attemptValues)]);
      }
      return;
    }
    const completion = this.finishing(claim, {
      status: 'completed',
      completed_at: now,
      updated_at: now,
      ...(left.result === undefined ? {} : { result: JSON.stringify(left.result) }),
      ...(left.callbackStatus === undefined ? {} : { callback_status: left.callbackStatus }),
    });
    if (!left.attempt) {
      await completion.execute();
      return;
    }
    const attempt = attemptRow(claim.deliveryId, left.attempt);
    if (this.postgres) {
      await this.db.with('completed', () => completion).insertInto('callback_attempts').values(attempt).execute();
      return;
    }
    await Promise.all([completion.execute(), this.db.insertInto('callback_attempts').values(attempt).execute()]);
  }

  async retryAt(claim: ClaimedDelivery, runAt: number, error: string, now: number): Promise<void> {
    await this.finish(claim, { status: 'retrying', next_run_at: runAt, last_error: error, updated_at: now });
  }

  async markDead(claim: ClaimedDelivery, error: string, now: number): Promise<void> {
    await this.finish(claim, { status: 'dead', last_error: error, updated_at: now });
  }

  /** Hands an interrupted run back (shutdown): runnable at once, not failed (its claim still counts). */
  async release(claim: ClaimedDelivery, now: number): Promise<void> {
    await this.finish(claim, { status: 'retrying', next_run_at: now, updated_at: now });
  }

  /**
   * Embedded: one process per database file, so at boot nothing can still be running:
   * rows left `processing` by a crash are runnable again at once instead of after their lease.
   */
  async recoverInterrupted(now: number): Promise<number> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'retrying', next_run_at: now, lease_until: null, lease_token: null, updated_at: now })
      .where('status', '=', 'processing')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * Scale: candidates whose job may be missing from Redis: unfinished rows without a lease untouched since `before`,
   * and rows whose lease (a local run's, see BullMqJobQueue.reserveSlot) expired by `now`. Only rows due by `now`:
   * a retry still in its backoff is left alone until then (re-queued earlier, it would run before its time), and
   * however many wait in backoff, they never fill the batch ahead of a due row whose job is gone.
   */
  async stale(before: number, now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', 'in', UNFINISHED_STATUSES)
      .where('next_run_at', '<=', now)
      .where((eb) => eb.or([eb.and([eb('lease_until', 'is', null), eb('updated_at', '<', before)]), eb('lease_until', '<', now)]))
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  private async finish(claim: ClaimedDelivery, changes: Finish): Promise<void> {
    await this.finishing(claim, changes).execute();
  }

  private finishing(claim: ClaimedDelivery, changes: Finish) {
    return this.db
      .updateTable('webhook_deliveries')
      .set({ ...changes, lease_until: null, lease_token: null })
      .where('id', '=', claim.deliveryId)
      .where('lease_token', '=', claim.leaseToken);
  }
}
