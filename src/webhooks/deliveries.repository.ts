import { Injectable } from '@nestjs/common';
import { Insertable } from 'kysely';
import { InjectBackgroundDatabase, InjectDatabase } from '../database/database.module';
import { DeliveryRow, DeliveryStatus, Db, WebhookDeliveriesTable } from '../database/database.types';

export type NewDelivery = Insertable<WebhookDeliveriesTable>;
export type Delivery = DeliveryRow;

/** delivered: result callback accepted · error_sent / error_failed: the error callback's fate · refused: URL policy · not_required: no callback in this workflow */
export type CallbackStatus = 'delivered' | 'error_sent' | 'error_failed' | 'refused' | 'not_required';

/** The status API uses `db`; intake's insert and the worker's steps (load, result, callback status) use `background`. */
@Injectable()
export class DeliveriesRepository {
  constructor(
    @InjectDatabase() private readonly db: Db,
    @InjectBackgroundDatabase() private readonly background: Db,
  ) {}

  /**
   * Atomic insert-if-absent on the unique dedupe key: concurrent duplicates (even from several instances)
   * all learn the id of the one row that won. Answers as soon as it ran (background view): the caller waits
   * for durability itself (WriteBarrier.synced) before it answers anyone.
   */
  async insertIfAbsent(row: NewDelivery): Promise<{ id: string; inserted: boolean; status: DeliveryStatus }> {
    const inserted = await this.background
      .insertInto('webhook_deliveries')
      .values(row)
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .returning(['id', 'status'])
      .executeTakeFirst();
    if (inserted) return { ...inserted, inserted: true };
    const existing = await this.background
      .selectFrom('webhook_deliveries')
      .select(['id', 'status'])
      .where('dedupe_key', '=', row.dedupe_key)
      .executeTakeFirstOrThrow();
    return { ...existing, inserted: false };
  }

  /** The processor's output, kept so a retry (e.g. after a failed callback) never processes twice. */
  async saveResult(id: string, result: unknown): Promise<void> {
    await this.background
      .updateTable('webhook_deliveries')
      .set({ result: JSON.stringify(result), updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async setCallbackStatus(id: string, callbackStatus: CallbackStatus, error?: string): Promise<void> {
    await this.background
      .updateTable('webhook_deliveries')
      .set({ callback_status: callbackStatus, updated_at: Date.now(), ...(error ? { last_error: error } : {}) })
      .where('id', '=', id)
      .execute();
  }

  /** The channel's delivery (quarantined ones aside): the webhook that answers a started request. */
  findForChannel(channelId: string): Promise<Delivery | undefined> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('channel_id', '=', channelId)
      .where('status', '<>', 'quarantined')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  findById(id: string): Promise<Delivery | undefined> {
    return this.background.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }
}
