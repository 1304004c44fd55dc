import { Injectable } from '@nestjs/common';
import { InjectDatabase } from '../database/database.module';
import { DeliveryRow, Db } from '../database/database.types';

/**
 * The delivery row's status for a queue that keeps its jobs elsewhere (BullMQ): the row stays the source of
 * truth for operators and for the status API, and lets the sweeper find work that Redis lost.
 */
@Injectable()
export class DeliveryStateRepository {
  constructor(@InjectDatabase() private readonly db: Db) {}

  /** Marks the run and reads the row back in the same statement: the handler needs it next. */
  processing(id: string, attempt: number): Promise<DeliveryRow | undefined> {
    return this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'processing', attempts: attempt, updated_at: Date.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async completed(id: string): Promise<void> {
    const now = Date.now();
    await this.db.updateTable('webhook_deliveries').set({ status: 'completed', completed_at: now, updated_at: now }).where('id', '=', id).execute();
  }

  async retrying(id: string, error: string, runAt: number): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'retrying', last_error: error, next_run_at: runAt, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async dead(id: string, error: string): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set({ status: 'dead', last_error: error, updated_at: Date.now() }).where('id', '=', id).execute();
  }

  /** Unfinished rows untouched since `before`: candidates whose job may be missing from Redis. */
  async stale(before: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', 'in', ['queued', 'retrying', 'processing'])
      .where('updated_at', '<', before)
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }
}
