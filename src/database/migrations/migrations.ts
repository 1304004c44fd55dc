import { Migration, MigrationProvider } from 'kysely';
import { webhookDeliveriesMigration } from './0001-webhook-deliveries';
import { processingMigration } from './0002-processing';
import { aiRequestsMigration } from './0003-ai-requests';
import { adminAuditMigration } from './0004-admin-audit';
import { retentionMigration } from './0005-retention';

/** Migrations are code (not files found at run time) so the built app and the tests run the same set. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-webhook-deliveries': webhookDeliveriesMigration,
  '0002-processing': processingMigration,
  '0003-ai-requests': aiRequestsMigration,
  '0004-admin-audit': adminAuditMigration,
  '0005-retention': retentionMigration,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};
