import { Migration, MigrationProvider } from 'kysely';
import { webhookDeliveriesMigration } from './0001-webhook-deliveries';
import { processingMigration } from './0002-processing';
import { aiRequestsMigration } from './0003-ai-requests';

/** Migrations are code (not files found at run time) so the built app and the tests run the same set. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-webhook-deliveries': webhookDeliveriesMigration,
  '0002-processing': processingMigration,
  '0003-ai-requests': aiRequestsMigration,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};
