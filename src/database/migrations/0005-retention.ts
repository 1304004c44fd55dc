import { Kysely, Migration } from 'kysely';

/**
 * What retention reads and deletes by: deliveries by age (also the admin list's order, newest first), the audit
 * trail by delivery, requests by age.
 */
export const retentionMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createIndex('webhook_deliveries_created_idx').on('webhook_deliveries').columns(['created_at', 'id']).execute();
    await db.schema.createIndex('admin_audit_delivery_idx').on('admin_audit').column('delivery_id').execute();
    await db.schema.createIndex('ai_requests_created_idx').on('ai_requests').column('created_at').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('ai_requests_created_idx').execute();
    await db.schema.dropIndex('admin_audit_delivery_idx').execute();
    await db.schema.dropIndex('webhook_deliveries_created_idx').execute();
  },
};
