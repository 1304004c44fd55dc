import { Inject, Injectable } from '@nestjs/common';
import { DatabaseHandles } from '../database/database.factory';
import { DATABASE_HANDLES } from '../database/database.module';
import { Db, DeliveryStatus } from '../database/database.types';
import { statusColumn } from './deliveries.repository';

/** What one purge batch deleted. */
export interface Purged {
  deliveries: number;
  callbackAttempts: number;
  auditEntries: number;
}

/**
 * Deletes finished deliveries past their retention, with their callback attempts and audit trail. Business data
 * written by processors (contents, entities, task results) lives elsewhere and is never touched here.
 */
@Injectable()
export class DeliveryPurgeRepository {
  constructor(@Inject(DATABASE_HANDLES) private readonly handles: DatabaseHandles) {}

  /**
   * Up to `limit` deliveries in `statuses` whose last change is older than `before`, oldest first, deleted with what
   * hangs off them, all or nothing.
   *
   * PostgreSQL: one transaction; the rows are locked as they are chosen and others' locked rows skipped, so
   * instances purging at once share the work, and a replay racing the purge either wins (the row is no longer
   * dead, so it stays) or waits and then finds nothing to replay.
   * SQLite: the three deletes run back to back inside the open group commit (executeTogether), each choosing the
   * same rows, with nothing in between; an explicit transaction would take the connection from intake meanwhile.
   */
  async purgeBatch(statuses: readonly DeliveryStatus[], before: number, limit: number): Promise<Purged> {
    const { db } = this.handles;
    // Completed ones come from the (created_at, id) index, oldest first (created_at <= updated_at makes that bound
    // valid): each statement below, every retention pass, reads a few index pages, not every completed delivery
    // (statusColumn). Dead and quarantined ones come from their status range, past no completed row kept meanwhile.
    const expired = (from: Db) =>
      from
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('created_at', '<', before)
        .where('updated_at', '<', before)
        .where(statusColumn(statuses), 'in', statuses)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit);
    if (this.handles.executeTogether) {
      const [attempts, audit, deliveries] = await this.handles.executeTogether([
        db.deleteFrom('callback_attempts').where('delivery_id', 'in', expired(db)).compile(),
        db.deleteFrom('admin_audit').where('delivery_id', 'in', expired(db)).compile(),
        db.deleteFrom('webhook_deliveries').where('id', 'in', expired(db)).compile(),
      ]);
      return { deliveries: Number(deliveries.numAffectedRows), callbackAttempts: Number(attempts.numAffectedRows), auditEntries: Number(audit.numAffectedRows) };
    }
    return db.transaction().execute(async (trx) => {
      const ids = (await expired(trx).forUpdate().skipLocked().execute()).map((row) => row.id);
      if (ids.length === 0) return { deliveries: 0, callbackAttempts: 0, auditEntries: 0 };
      const attempts = await trx.deleteFrom('callback_attempts').where('delivery_id', 'in', ids).executeTakeFirst();
      const audit = await trx.deleteFrom('admin_audit').where('delivery_id', 'in', ids).executeTakeFirst();
      const deliveries = await trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).executeTakeFirst();
      return { deliveries: Number(deliveries.numDeletedRows), callbackAttempts: Number(attempts.numDeletedRows), auditEntries: Number(audit.numDeletedRows) };
    });
  }
}
