import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery } from 'kysely';
import { createDatabase, DatabaseHandles } from '../database/database.factory';
import { DeliveryRow } from '../database/database.types';
import { newRowId } from '../database/row-id';
import { DeliveryPurgeRepository } from './delivery-purge.repository';

const DAY = 86_400_000;

describe('DeliveryPurgeRepository (SQLite)', () => {
  let dir: string;
  let handles: DatabaseHandles;
  let purge: DeliveryPurgeRepository;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-purge-'));
    handles = await createDatabase({ url: `sqlite:${join(dir, 'test.db')}`, busyTimeoutMs: 5000, sqliteSynchronous: 'NORMAL', poolSize: 1, preparedStatements: false });
    purge = new DeliveryPurgeRepository(handles);
  });

  afterEach(async () => {
    await handles.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = async (status: DeliveryRow['status'], createdAt: number) => {
    const id = newRowId(createdAt);
    await handles.db
      .insertInto('webhook_deliveries')
      .values({ id, dedupe_key: `${id}:task.ai_generated`, channel_id: id, status, attempts: 1, next_run_at: createdAt, payload: '{}', signature_scheme: 'raw', signature_secret_index: 0, created_at: createdAt, updated_at: createdAt })
      .execute();
    await handles.db
      .insertInto('callback_attempts')
      .values({ id: newRowId(createdAt), delivery_id: id, kind: 'result', attempt: 1, status_code: 200, duration_ms: 1, outcome: 'delivered', created_at: createdAt })
      .execute();
    return id;
  };

  it('deletes the oldest finished deliveries of the given statuses with their attempts, nothing younger, nothing of another status', async () => {
    const now = Date.now();
    const old = [await insert('completed', now - 10 * DAY), await insert('completed', now - 9 * DAY)];
    const young = await insert('completed', now - DAY);
    const dead = await insert('dead', now - 10 * DAY);

    expect(await purge.purgeBatch(['completed'], now - 7 * DAY, 50)).toEqual({ deliveries: 2, callbackAttempts: 2, auditEntries: 0 });
    const left = await handles.db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute();
    expect(left.map((row) => row.id)).toEqual([dead, young].sort());
    const attempts = await handles.db.selectFrom('callback_attempts').select('delivery_id').execute();
    expect(attempts.map((row) => row.delivery_id).sort()).toEqual([dead, young].sort());
    expect(old.every((id) => !left.some((row) => row.id === id))).toBe(true);
  });

  it('finds completed candidates through the (created_at, id) index, dead and quarantined ones through their status', async () => {
    // What every retention pass runs, most often with nothing due: on the event loop, so it must cost a few index
    // pages whatever the table holds. Walking the (status, next_run_at) index for completed deliveries reads every one
    // of them; walking the created_at index for the few failed ones would read the completed rows kept meanwhile.
    const together = jest.spyOn(handles as Required<DatabaseHandles>, 'executeTogether');
    const plansOf = async (statuses: DeliveryRow['status'][]) => {
      together.mockClear();
      await purge.purgeBatch(statuses, Date.now() - 7 * DAY, 50);
      const statements = together.mock.calls.flatMap(([queries]) => queries);
      expect(statements).toHaveLength(3);
      return Promise.all(
        statements.map(async (statement) => {
          const plan = await handles.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, [...statement.parameters]));
          return plan.rows.map((row) => row.detail).join('\n');
        }),
      );
    };

    for (const plan of await plansOf(['completed'])) {
      expect(plan).toContain('USING INDEX webhook_deliveries_created_idx');
      expect(plan).not.toContain('webhook_deliveries_runnable_idx');
      expect(plan).not.toContain('TEMP B-TREE');
    }
    for (const plan of await plansOf(['dead', 'quarantined'])) expect(plan).toContain('USING INDEX webhook_deliveries_runnable_idx (status=?)');
  });
});
