import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { DatabaseConfig } from '../../src/config/configuration';
import { createDatabase, DatabaseHandles } from '../../src/database/database.factory';
import { DeliveriesRepository, NewDelivery } from '../../src/deliveries/deliveries.repository';
import { DeliveryStateRepository } from '../../src/deliveries/delivery-state.repository';
import { freshBackends, ScaleBackends } from '../helpers/scale-env';

/**
 * PostgreSQL runs the statements every delivery runs (PreparedQuery) as named statements, parsed and planned once
 * per connection; DATABASE_PREPARED_STATEMENTS=false (for a pooler that cannot track them) keeps every statement
 * unnamed. One pooled connection, so what the pool prepared is what the session shows.
 */
describe('PostgreSQL prepared statements', () => {
  let backends: ScaleBackends;
  let handles: DatabaseHandles | undefined;

  beforeEach(async () => {
    backends = await freshBackends();
  });
  afterEach(async () => {
    await handles?.close();
    handles = undefined;
    await backends.drop();
  });

  const open = async (preparedStatements: boolean) => {
    const config: DatabaseConfig = { url: backends.databaseUrl, busyTimeoutMs: 1000, sqliteSynchronous: 'FULL', poolSize: 1, preparedStatements };
    handles = await createDatabase(config);
    return { handles, deliveries: new DeliveriesRepository(handles.db, handles.background), state: new DeliveryStateRepository(handles) };
  };
  const delivery = (): NewDelivery => {
    const id = randomUUID();
    return {
      id,
      dedupe_key: id,
      channel_id: randomUUID(),
      type: 'task.ai_generated',
      event: 'content_ready',
      status: 'queued',
      attempts: 0,
      next_run_at: 0,
      payload: '{}',
      signature_scheme: 'raw',
      signature_secret_index: 0,
      created_at: 1,
      updated_at: 1,
    };
  };
  const preparedInSession = async (db: DatabaseHandles['db']) =>
    (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements order by name`.execute(db)).rows;

  it('prepares the per-delivery statements once per connection, and nothing ad hoc', async () => {
    const { handles, deliveries, state } = await open(true);
    const before = { ...handles.statementStats! };
    for (let n = 0; n < 3; n++) {
      const row = delivery();
      await deliveries.insertIfAbsent(row);
      expect((await state.claim(row.id, 2))?.attempt).toBe(1);
    }
    expect(handles.statementStats).toEqual({ prepared: before.prepared + 6, unprepared: before.unprepared });
    const prepared = await preparedInSession(handles.db);
    expect(prepared).toHaveLength(2);
    expect(prepared.every(({ name }) => /^mr_[0-9a-f]{24}$/.test(name))).toBe(true);
    expect(prepared.map(({ statement }) => statement.split(' ').slice(0, 2).join(' ')).sort()).toEqual(['insert into', 'update "webhook_deliveries"']);
  });

  it('keeps claiming after a newer instance migrates a column in (a rolling deploy)', async () => {
    const { handles, deliveries, state } = await open(true);
    const first = delivery();
    await deliveries.insertIfAbsent(first);
    await state.claim(first.id, 2);
    // What a newer version's migration might do while this instance keeps its connection and its statements.
    await sql`alter table webhook_deliveries add column added_later text`.execute(handles.db);
    const second = delivery();
    await deliveries.insertIfAbsent(second);
    const claimed = await state.claim(second.id, 3);
    expect(claimed?.row).toMatchObject({ id: second.id, status: 'processing', attempts: 1 });
    expect(claimed?.row).not.toHaveProperty('added_later');
  });

  it('with DATABASE_PREPARED_STATEMENTS=false runs the same statements unnamed', async () => {
    const { handles, deliveries, state } = await open(false);
    const before = { ...handles.statementStats! };
    const row = delivery();
    await deliveries.insertIfAbsent(row);
    expect((await state.claim(row.id, 2))?.attempt).toBe(1);
    expect(handles.statementStats).toEqual({ prepared: 0, unprepared: before.unprepared + 2 });
    expect(await preparedInSession(handles.db)).toEqual([]);
  });
});
