import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createDatabase, DatabaseHandles } from './database.factory';

/** SQLite's temporary files (statement journals, sorts) this process holds open: unlinked at once, named etilqs_*. */
function openTemporaryFiles(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes('etilqs_');
    } catch {
      return false; // closed meanwhile (readdir's own descriptor)
    }
  }).length;
}

describe('createDatabase (SQLite)', () => {
  let dir: string;
  let handles: DatabaseHandles;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-factory-'));
    handles = await createDatabase({
      url: `sqlite:${join(dir, 'test.db')}`,
      busyTimeoutMs: 5000,
      sqliteSynchronous: 'FULL',
      poolSize: 1,
      preparedStatements: false,
    });
  });

  afterEach(async () => {
    await handles.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Reads this process's descriptors from /proc.
  (existsSync('/proc/self/fd') ? it : it.skip)(
    'keeps a statement journal in memory: a large multi-row write inside the open group opens no temporary file',
    async () => {
      await sql`create table scratch (id integer primary key, k text not null unique, body text not null)`.execute(handles.db);
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < 300)
        insert into scratch (k, body) select 'k' || i, replace(hex(zeroblob(1000)), '00', 'x') from n`.execute(handles.db);
      // Many rows under a unique index: SQLite journals the ~150 pages it changes, to undo just this statement should
      // it fail halfway. The background view answers once the statement ran, so its group (and that journal) is
      // still open here; with SQLite's default temp_store the journal would now be a temporary file.
      await sql`update scratch set k = k || '!', body = body || 'y'`.execute(handles.background);
      expect(openTemporaryFiles()).toBe(0);
    },
  );
});
