import { Injectable } from '@nestjs/common';
import { Insertable, Selectable } from 'kysely';
import { InjectDatabase } from '../database/database.module';
import { DeliveryStatus, Db, WebhookDeliveriesTable } from '../database/database.types';

export type NewDelivery = Insertable<WebhookDeliveriesTable>;
export type Delivery = Selectable<WebhookDeliveriesTable>;

@Injectable()
export class DeliveriesRepository {
  constructor(@InjectDatabase() private readonly db: Db) {}

  /**
   * Atomic insert-if-absent on the unique dedupe key: concurrent duplicates (even from several instances)
   * all learn the id of the one row that won.
   */
  async insertIfAbsent(row: NewDelivery): Promise<{ id: string; inserted: boolean; status: DeliveryStatus }> {
    const inserted = await this.db
      .insertInto('webhook_deliveries')
      .values(row)
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .returning(['id', 'status'])
      .executeTakeFirst();
    if (inserted) return { ...inserted, inserted: true };
    const existing = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'status'])
      .where('dedupe_key', '=', row.dedupe_key)
      .executeTakeFirstOrThrow();
    return { ...existing, inserted: false };
  }

  findById(id: string): Promise<Delivery | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }
}
