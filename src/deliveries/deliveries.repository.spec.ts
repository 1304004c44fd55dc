import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, DatabaseConnection } from 'kysely';
import { createDatabase, DatabaseHandles } from '../database/database.factory';
import { DeliveryStatus } from '../database/database.types';
import { GroupCommitSqliteDriver } from '../database/group-commit-sqlite.driver';
import { newRowId } from '../database/row-id';
import { DeliveriesRepository, DeliveryCursor, DeliveryFilter } from './deliveries.repository';

describe('DeliveriesRepository (SQLite)', () => {
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

  /** One delivery per entry of `at` (its created_at and next_run_at), of `status` and `event`; resolves to their ids. */
  const insertAll = async (status: DeliveryStatus, at: number[], event = 'content_ready') => {
    const rows = at.map((time) => {
      const id = newRowId(time);
      return { id, dedupe_key: `${id}:task.ai_generated`, channel_id: id, type: 'task.ai_generated', event, status, attempts: 1, next_run_at: time, payload: '{}', signature_scheme: 'raw', signature_secret_index: 0, created_at: time, updated_at: time };
    });
    await handles.db.insertInto('webhook_deliveries').values(rows).execute();
    return rows.map((row) => row.id);
  };
  const insert = async (status: DeliveryStatus, at: number) => (await insertAll(status, [at]))[0];

  const planOf = async (statement: CompiledQuery) => {
    const plan = await handles.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, [...statement.parameters]));
    return plan.rows.map((row) => row.detail).join('\n');
  };

  describe('list', () => {
    it('lists one status newest first', async () => {
      const now = Date.now();
      const completed = [await insert('completed', now - 3000), await insert('completed', now - 2000), await insert('completed', now - 1000)];
      const dead = await insert('dead', now - 1500);

      expect((await deliveries.list({ status: 'completed', limit: 10 })).rows.map((row) => row.id)).toEqual(completed.reverse());
      expect((await deliveries.list({ status: 'dead', limit: 10 })).rows.map((row) => row.id)).toEqual([dead]);
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

    /** Every page of `filter` with a scan limit of `scanLimit`, each from the last one's `next`. */
    const pages = async (filter: Omit<DeliveryFilter, 'after'>, scanLimit: number) => {
      const found: string[][] = [];
      let after: DeliveryCursor | undefined;
      for (let page = 0; page < 100; page++) {
        const { rows, next } = await deliveries.list({ ...filter, after }, scanLimit);
        found.push(rows.map((row) => row.id));
        after = next;
        if (!after) return found;
      }
      throw new Error('no last page');
    };

    it('reads at most scanLimit deliveries per page for a rare event, and the pages together hold every match once, newest first', async () => {
      const t = Date.now() - 60_000;
      // 23 deliveries; the rare event on the 4th, 5th and 19th newest. Four share one millisecond across a page's end.
      const times = [t, t + 1, t + 2, t + 3, t + 4, ...Array<number>(4).fill(t + 5), t + 6, t + 7, t + 8, t + 9, t + 10, t + 11, t + 12, t + 13, t + 14, t + 15, t + 16, t + 17, t + 18, t + 19];
      const ids = await insertAll('completed', times);
      const newestFirst = [...ids].sort().reverse();
      const rare = [newestFirst[3], newestFirst[4], newestFirst[18]];
      await handles.db.updateTable('webhook_deliveries').set({ event: 'rare' }).where('id', 'in', rare).execute();

      const found = await pages({ event: 'rare', limit: 50 }, 5);

      expect(found.flat()).toEqual(rare);
      expect(found.length).toBe(5); // 23 deliveries, 5 a page
      expect(found[0]).toEqual([rare[0], rare[1]]);
      // The same pages with a limit of 1: a full page continues after its last row.
      expect((await pages({ event: 'rare', limit: 1 }, 5)).flat()).toEqual(rare);
      // A common filter fills its page before the scan limit, as an unbounded list would.
      expect((await pages({ event: 'content_ready', limit: 7 }, 5)).flat()).toEqual(newestFirst.filter((id) => !rare.includes(id)));
    });

    it('bounds the index walk of a page filtered on type or event, starts a next page at its cursor, and leaves other filters unbounded', async () => {
      await insertAll('completed', [1, 2, 3, 4, 5, 6]);
      statements.length = 0;

      // No match among the 3 read: the page is empty, and the next one starts after the third.
      expect((await deliveries.list({ type: 'task.completed', limit: 2 }, 3)).next).toBeDefined();
      const [boundary, page] = statements.filter((statement) => statement.sql.startsWith('select'));
      expect(await planOf(boundary)).toContain('USING COVERING INDEX webhook_deliveries_created_idx');
      expect(await planOf(page)).toMatch(/USING INDEX webhook_deliveries_created_idx \(created_at>\?/);

      // The next page's walk starts at its cursor, not at the newest delivery.
      statements.length = 0;
      await deliveries.list({ limit: 2, after: { createdAt: 4, id: 'z' } }, 3);
      expect(await planOf(statements.filter((statement) => statement.sql.startsWith('select'))[0])).toMatch(/USING INDEX webhook_deliveries_created_idx \(created_at<\?/);

      statements.length = 0;
      // Unbounded: one statement each, and a page that holds every match ends the list.
      expect((await deliveries.list({ status: 'dead', event: 'rare', limit: 2 }, 3)).next).toBeUndefined();
      expect((await deliveries.list({ search: 'x', event: 'rare', limit: 2 }, 3)).next).toBeUndefined();
      expect((await deliveries.list({ limit: 10 }, 3)).next).toBeUndefined();
      expect(statements.filter((statement) => statement.sql.startsWith('select'))).toHaveLength(3);
    });
  });

  describe('countCompleted', () => {
    it('counts every completed delivery once across slices, also where more deliveries than a slice share a millisecond', async () => {
      const t = Date.now() - 60_000;
      // 5 at t, 1 at t+1, 4 at t+2, 1 each at t+3..t+9: slice boundaries fall inside runs of equal next_run_at.
      await insertAll('completed', [...Array(5).fill(t), t + 1, ...Array(4).fill(t + 2), ...Array.from({ length: 7 }, (_, i) => t + 3 + i)]);
      await insertAll('dead', [t, t + 2, t + 5]);
      const between = jest.fn(() => Promise.resolve());

      const counted = await deliveries.countCompleted(3, between);

      expect(counted.count).toBe(17);
      expect(counted.slices).toBeGreaterThan(1);
      expect(between).toHaveBeenCalledTimes(counted.slices - 1);
      for (const slice of [1, 2, 4, 16, 17, 18, 1000]) expect((await deliveries.countCompleted(slice, between)).count).toBe(17);
    });

    it('reports one slice for a table it counted in one statement pair, and zero for none', async () => {
      expect(await deliveries.countCompleted(10)).toEqual({ count: 0, slices: 1 });
      await insertAll('completed', [1, 2, 3]);
      expect(await deliveries.countCompleted(10)).toEqual({ count: 3, slices: 1 });
    });

    it('reads only the (status, next_run_at) index, never the table', async () => {
      await insertAll('completed', [1, 2, 3, 4, 5]);
      statements.length = 0;

      await deliveries.countCompleted(2);

      const counting = [...statements];
      expect(counting.length).toBeGreaterThanOrEqual(4);
      for (const statement of counting) {
        const plan = await handles.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, [...statement.parameters]));
        const detail = plan.rows.map((row) => row.detail).join('\n');
        expect(detail).toMatch(/USING COVERING INDEX webhook_deliveries_runnable_idx \(status=\?/);
        expect(detail).not.toContain('TEMP B-TREE');
      }
    });
  });
});
