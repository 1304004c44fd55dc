import { Kysely, Migration } from 'kysely';

export const webhookDeliveriesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('dedupe_key', 'varchar(400)', (col) => col.notNull().unique())
      .addColumn('channel_id', 'varchar(200)')
      .addColumn('type', 'varchar(100)')
      .addColumn('event', 'varchar(200)')
      .addColumn('status', 'varchar(20)', (col) => col.notNull())
      .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('next_run_at', 'bigint', (col) => col.notNull())
      .addColumn('lease_until', 'bigint')
      .addColumn('lease_token', 'varchar(36)')
      .addColumn('payload', 'text', (col) => col.notNull())
      .addColumn('signature_scheme', 'varchar(20)', (col) => col.notNull())
      .addColumn('signature_secret_index', 'integer', (col) => col.notNull())
      .addColumn('validation_errors', 'text')
      .addColumn('last_error', 'text')
      .addColumn('result', 'text')
      .addColumn('callback_status', 'varchar(40)')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .addColumn('completed_at', 'bigint')
      .execute();
    // The queue's claim query scans runnable rows by due time.
    await db.schema
      .createIndex('webhook_deliveries_runnable_idx')
      .on('webhook_deliveries')
      .columns(['status', 'next_run_at'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_channel_idx')
      .on('webhook_deliveries')
      .column('channel_id')
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('webhook_deliveries').execute();
  },
};
