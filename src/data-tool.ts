/**
 * `npm run backup -- <file>` and `npm run restore -- <file>` (after a build): an online backup of the embedded
 * profile's SQLite database while the service runs, and putting one back while it is stopped. Both read
 * DATABASE_URL as the service does (environment, then .env), or take `--database sqlite:<path>`.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readSetting } from './config/config.module';
import { EnvironmentVariables } from './config/environment';
import { DatabaseLockedError } from './database/database-lock';
import { sqlitePath } from './database/database.factory';
import { BackupError, backupSqlite, restoreSqlite } from './database/sqlite-backup';

const USAGE = 'usage: npm run backup -- <backup file> [--database sqlite:<path>]\n       npm run restore -- <backup file> [--database sqlite:<path>]';

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { database: { type: 'string' } } });
  const [command, file, ...extra] = positionals;
  if ((command !== 'backup' && command !== 'restore') || !file || extra.length > 0) throw new BackupError(USAGE);
  const url = values.database ?? readSetting('DATABASE_URL') ?? new EnvironmentVariables().DATABASE_URL;
  if (!url.startsWith('sqlite:')) {
    throw new BackupError(
      'DATABASE_URL is PostgreSQL (the scale profile): back it up with PostgreSQL\'s own tools (pg_dump, or your provider\'s snapshots); see the README, "Data and retention"',
    );
  }
  const database = sqlitePath(url);
  const target = resolve(file);
  if (command === 'backup') {
    const report = await backupSqlite(database, target);
    console.log(
      `backed up ${database} to ${target}: ${report.deliveries} deliveries, ${megabytes(report.bytes)}, in ${report.ms} ms (as of ${report.snapshotAt.toISOString()})`,
    );
  } else {
    const report = await restoreSqlite(target, database);
    console.log(
      `restored ${target} to ${database}: ${report.deliveries} deliveries${report.previous ? `; the database that was there is now ${report.previous}` : ''}. Start the service.`,
    );
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof DatabaseLockedError) {
    console.error(
      `Cannot restore: the database file ${error.file} is in use by another process${DatabaseLockedError.by(error.holder)}: one process per SQLite file; stop the service first`,
    );
  } else {
    console.error(error instanceof BackupError ? error.message : `failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
});
