import { Kysely, Migration } from 'kysely';

/** Every operator action on a delivery (replay), for the audit trail. */
export const adminAuditMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('admin_audit')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('action', 'varchar(40)', (col) => col.notNull())
      .addColumn('delivery_id', 'varchar(36)', (col) => col.notNull())
      .addColumn('from_status', 'varchar(20)', (col) => col.notNull())
      .addColumn('request_id', 'varchar(64)')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('admin_audit').execute();
  },
};
