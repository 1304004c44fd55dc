import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, DatabaseConnection } from 'kysely';
import { createDatabase, DatabaseHandles } from '../database/database.factory';
import { DeliveryStatus } from '../database/database.types';
import { GroupCommitSqliteDriver } from '../database/group-commit-sqlite.driver';
import { newRowId } from '../database/row-id';
import { DeliveriesRepository } from './deliveries.repository';

describe('DeliveriesRepository.list (SQLite)', () => {
  let dir: string;
  let handles: DatabaseHandles;
  let deliveries: DeliveriesRepository;
  /** Every statement the connection runs, as compiled. */
  let statements: CompiledQuery[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-deliveries-'));
    handles = await createDatabase({ url: `sqlite:${join(dir, 'test.db')}`, busyTimeoutMs: 5000, sqliteSynchronous: 'NORMAL', poolSize: 1, preparedStatements: false });
    deliveries = new DeliveriesRepository(handles.db, handles.background);
    statements = [];
    const driver = handles.barrier as GroupCommitSqliteDriver;
    const acquire = driver.acquireConnection.bind(driver);
    jest.spyOn(driver, 'acquireConnection').mockImplementation(async (): Promise<DatabaseConnection> => {
      const connection = await acquire();
      return { ...connection, executeQuery: (query) => (statements.push(query), connection.executeQuery(query)) };
    });
  });

  afterEach(async () => {
    await handles.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (status: DeliveryStatus, createdAt: number) => {
    const id = newRowId(createdAt);
    return handles.db
      .insertInto('webhook_deliveries')
      .values({ id, dedupe_key: `${id}:task.ai_generated`, channel_id: id, status, attempts: 1, next_run_at: createdAt, payload: '{}', signature_scheme: 'raw', signature_secret_index: 0, created_at: createdAt, updated_at: createdAt })
      .execute()
      .then(() => id);
  };

  const planOf = async (statement: CompiledQuery) => {
    const plan = await handles.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, [...statement.parameters]));
    return plan.rows.map((row) => row.detail).join('\n');
  };

  it('lists one status newest first', async () => {
    const now = Date.now();
    const completed = [await insert('completed', now - 3000), await insert('completed', now - 2000), await insert('completed', now - 1000)];
    const dead = await insert('dead', now - 1500);

    expect((await deliveries.list({ status: 'completed', limit: 10 })).map((row) => row.id)).toEqual(completed.reverse());
    expect((await deliveries.list({ status: 'dead', limit: 10 })).map((row) => row.id)).toEqual([dead]);
  });

  it('finds the newest completed deliveries through the (created_at, id) index, the few of another status through (status, next_run_at)', async () => {
    // Completed is nearly every row: read from the status index, the page would read and sort all of them on the
    // event loop (~0.4 s per 200,000), holding up intake while an operator looks.
    await deliveries.list({ status: 'completed', limit: 50 });
    await deliveries.list({ status: 'dead', limit: 50 });
    const [completed, dead] = statements.filter((statement) => statement.sql.startsWith('select'));

    const completedPlan = await planOf(completed);
    expect(completedPlan).toContain('USING INDEX webhook_deliveries_created_idx');
    expect(completedPlan).not.toContain('TEMP B-TREE');
    expect(await planOf(dead)).toContain('USING INDEX webhook_deliveries_runnable_idx (status=?)');
  });
});
