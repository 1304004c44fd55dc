import { Kysely, Migration } from 'kysely';

/** What POST /ai/generate started on ModelRiver. */
export const aiRequestsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('ai_requests')
      .addColumn('channel_id', 'varchar(200)', (col) => col.primaryKey())
      .addColumn('workflow', 'varchar(100)', (col) => col.notNull())
      .addColumn('status', 'varchar(20)', (col) => col.notNull())
      .addColumn('metadata', 'text')
      .addColumn('upstream_response', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('ai_requests').execute();
  },
};
