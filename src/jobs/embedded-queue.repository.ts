import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase } from '../database/database.module';
import { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { Database, DeliveryRow, Db } from '../database/database.types';

export interface ClaimedJob {
  deliveryId: string;
  attempt: number;
  leaseToken: string;
  /** The row as the claim left it: the handler starts from it instead of reading it again. */
  row: DeliveryRow;
}

const RUNNABLE = ['queued', 'retrying'] as const;

/**
 * Queue state kept on the deliveries table (embedded profile). Every write after a claim is fenced by the
 * lease token, so a worker whose lease was taken over can never complete or fail someone else's run.
 * Written through the background view: a job waits for durability once, before its callback (JobContext.persisted).
 */
@Injectable()
export class EmbeddedQueueRepository {
  constructor(@InjectBackgroundDatabase() private readonly db: Db) {}

  /**
   * Claims up to `limit` jobs in one statement: the most overdue runnable deliveries, then (with
   * `expiredLeases`) ones whose lease expired because their worker died. Two queries, each able to use the
   * (status, next_run_at) index: one OR across both would scan the table.
   */
  async claim(now: number, leaseMs: number, limit: number, expiredLeases: boolean): Promise<ClaimedJob[]> {
    const runnable = await this.claimWhere(now, leaseMs, limit, (w) =>
      w.and([w('status', 'in', RUNNABLE), w('next_run_at', '<=', now)]),
    );
    if (runnable.length === limit || !expiredLeases) return runnable;
    const expired = await this.claimWhere(now, leaseMs, limit - runnable.length, (w) =>
      w.and([w('status', '=', 'processing'), w('lease_until', '<', now)]),
    );
    return [...runnable, ...expired];
  }

  private async claimWhere(
    now: number,
    leaseMs: number,
    limit: number,
    condition: (w: ExpressionBuilder<Database, 'webhook_deliveries'>) => Expression<SqlBool>,
  ): Promise<ClaimedJob[]> {
    // One token for the batch: every later write is fenced by id and token, so sharing it fences just as well.
    const leaseToken = randomUUID();
    const rows = await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: 'processing',
        attempts: eb('attempts', '+', 1),
        lease_until: now + leaseMs,
        lease_token: leaseToken,
        updated_at: now,
      }))
      .where('id', 'in', (eb) =>
        eb.selectFrom('webhook_deliveries').select('id').where(condition).orderBy('next_run_at').limit(limit),
      )
      .returningAll()
      .execute();
    return rows.map((row) => ({ deliveryId: row.id, attempt: row.attempts, leaseToken, row }));
  }

  /** Earliest time something becomes runnable, to sleep exactly until then. */
  async nextDueAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_run_at').as('due'))
      .where('status', 'in', RUNNABLE)
      .executeTakeFirst();
    return row?.due == null ? undefined : Number(row.due);
  }

  async extendLease(job: ClaimedJob, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ lease_until: until })
      .where('id', '=', job.deliveryId)
      .where('lease_token', '=', job.leaseToken)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async complete(job: ClaimedJob, now: number): Promise<void> {
    await this.finish(job, { status: 'completed', completed_at: now, updated_at: now });
  }

  async retryAt(job: ClaimedJob, runAt: number, error: string, now: number): Promise<void> {
    await this.finish(job, { status: 'retrying', next_run_at: runAt, last_error: error, updated_at: now });
  }

  async markDead(job: ClaimedJob, error: string, now: number): Promise<void> {
    await this.finish(job, { status: 'dead', last_error: error, updated_at: now });
  }

  /** Hands a running job back (shutdown): runnable at once by the next process. */
  async release(job: ClaimedJob, now: number): Promise<void> {
    await this.finish(job, { status: 'retrying', next_run_at: now, updated_at: now });
  }

  /**
   * The embedded profile runs one process per database file, so at boot nothing can still be running:
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

  private async finish(
    job: ClaimedJob,
    changes: {
      status: 'completed' | 'retrying' | 'dead';
      updated_at: number;
      completed_at?: number;
      next_run_at?: number;
      last_error?: string;
    },
  ): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ ...changes, lease_until: null, lease_token: null })
      .where('id', '=', job.deliveryId)
      .where('lease_token', '=', job.leaseToken)
      .execute();
  }
}
