import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { JsonObject } from '../common/json';
import { DatabaseHandles } from '../database/database.factory';
import { DATABASE_HANDLES } from '../database/database.module';
import { Database, DeliveryRow, Db } from '../database/database.types';
import { PreparedQuery, slotsFor } from '../database/prepared-query';
import { AttemptRecord, attemptRow } from './callback-attempts.repository';
import { CallbackStatus, UNFINISHED_STATUSES } from './deliveries.repository';

/** A delivery taken by a worker for one run. */
export interface ClaimedDelivery {
  deliveryId: string;
  /** 1-based; every claim counts, including ones a crash interrupted. */
  attempt: number;
  /** Fences this run's writes: once another claim took the row, they change nothing. */
  leaseToken: string;
  /** The row as the claim left it: the handler starts from it instead of reading it again. */
  row: DeliveryRow;
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
   * SQLite: a run's usual end (a fresh result, its callback status, the delivered attempt), compiled once: the
   * two statements every delivery runs at its end (see PreparedQuery). PostgreSQL writes both in one statement.
   */
  private readonly prepared?: { completion: PreparedQuery<Completion>; attempt: PreparedQuery<Attempt> };

  constructor(@Inject(DATABASE_HANDLES) handles: DatabaseHandles) {
    const db = handles.background;
    this.db = db;
    this.postgres = handles.dialect === 'postgres';
    if (this.postgres) return;
    this.prepared = {
      completion: new PreparedQuery(db, ['completed_at', 'updated_at', 'result', 'callback_status', 'id', 'lease_token'], (slot) =>
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
          .where('lease_token', '=', slot('lease_token')),
      ),
      attempt: new PreparedQuery(db, ATTEMPT_COLUMNS, (slot) =>
        db.insertInto('callback_attempts').values(slotsFor(slot, ATTEMPT_COLUMNS)),
      ),
    };
  }

  /**
   * Embedded: claims up to `limit` runnable deliveries in one statement, most overdue first, then (with
   * `expiredLeases`) ones whose lease expired because their worker died. Two queries, each able to use the
   * (status, next_run_at) index: one OR across both would scan the table.
   */
  async claimDue(now: number, leaseMs: number, limit: number, expiredLeases: boolean): Promise<ClaimedDelivery[]> {
    const runnable = await this.claimWhere(now, now + leaseMs, limit, (w) => w.and([w('status', 'in', RUNNABLE), w('next_run_at', '<=', now)]));
    if (runnable.length === limit || !expiredLeases) return runnable;
    const expired = await this.claimWhere(now, now + leaseMs, limit - runnable.length, (w) =>
      w.and([w('status', '=', 'processing'), w('lease_until', '<', now)]),
    );
    return [...runnable, ...expired];
  }

  /**
   * Scale: claims one delivery for the BullMQ job that carries it, if it is unfinished (a job for a finished
   * delivery, say one the sweeper re-added, runs nothing). BullMQ's lock is the lease, so none is stored.
   */
  async claim(id: string, now: number): Promise<ClaimedDelivery | undefined> {
    const leaseToken = randomUUID();
    const row = await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({ status: 'processing', attempts: eb('attempts', '+', 1), lease_until: null, lease_token: leaseToken, updated_at: now }))
      .where('id', '=', id)
      .where('status', 'in', UNFINISHED_STATUSES)
      .returningAll()
      .executeTakeFirst();
    return row && { deliveryId: row.id, attempt: row.attempts, leaseToken, row };
  }

  private async claimWhere(
    now: number,
    leaseUntil: number,
    limit: number,
    condition: (w: ExpressionBuilder<Database, 'webhook_deliveries'>) => Expression<SqlBool>,
  ): Promise<ClaimedDelivery[]> {
    // One token for the batch: every later write is fenced by id and token, so sharing it fences just as well.
    const leaseToken = randomUUID();
    const rows = await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: 'processing',
        attempts: eb('attempts', '+', 1),
        lease_until: leaseUntil,
        lease_token: leaseToken,
        updated_at: now,
      }))
      .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where(condition).orderBy('next_run_at').limit(limit))
      .returningAll()
      .execute();
    return rows.map((row) => ({ deliveryId: row.id, attempt: row.attempts, leaseToken, row }));
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
    if (this.prepared && left.result !== undefined && left.callbackStatus !== undefined) {
      const { completion, attempt } = this.prepared;
      const completed = completion.execute({
        id: claim.deliveryId,
        lease_token: claim.leaseToken,
        completed_at: now,
        updated_at: now,
        result: JSON.stringify(left.result),
        callback_status: left.callbackStatus,
      });
      await Promise.all([completed, left.attempt && attempt.execute(attemptRow(claim.deliveryId, left.attempt))]);
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

  /** Scale: unfinished rows untouched since `before`: candidates whose job may be missing from Redis. */
  async stale(before: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', 'in', UNFINISHED_STATUSES)
      .where('updated_at', '<', before)
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
