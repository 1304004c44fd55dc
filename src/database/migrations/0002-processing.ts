import { Kysely, Migration } from 'kysely';

/** What the built-in processors store, and every callback attempt. */
export const processingMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('contents')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      // One row per channel: a retried delivery finds its row instead of creating another.
      .addColumn('channel_id', 'varchar(200)', (col) => col.notNull().unique())
      .addColumn('title', 'text', (col) => col.notNull())
      .addColumn('body', 'text', (col) => col.notNull())
      .addColumn('slug', 'varchar(200)', (col) => col.notNull().unique())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('entities')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('channel_id', 'varchar(200)', (col) => col.notNull())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('name_key', 'varchar(400)', (col) => col.notNull())
      .addColumn('type', 'varchar(200)')
      .addColumn('position', 'integer', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addUniqueConstraint('entities_channel_name_key', ['channel_id', 'name_key'])
      .execute();
    await db.schema
      .createTable('task_results')
      .addColumn('channel_id', 'varchar(200)', (col) => col.primaryKey())
      .addColumn('workflow', 'varchar(200)')
      .addColumn('status', 'varchar(20)', (col) => col.notNull())
      .addColumn('data', 'text')
      .addColumn('meta', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('callback_attempts')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('delivery_id', 'varchar(36)', (col) => col.notNull())
      .addColumn('kind', 'varchar(10)', (col) => col.notNull())
      .addColumn('attempt', 'integer', (col) => col.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('duration_ms', 'integer', (col) => col.notNull())
      .addColumn('outcome', 'varchar(20)', (col) => col.notNull())
      .addColumn('error', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createIndex('callback_attempts_delivery_idx')
      .on('callback_attempts')
      .columns(['delivery_id', 'created_at'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of ['callback_attempts', 'task_results', 'entities', 'contents']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
