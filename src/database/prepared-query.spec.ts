import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, SqliteDialect } from 'kysely';
import { PreparedQuery } from './prepared-query';

interface Schema {
  items: { id: number; name: string; note: string | null; kind: string };
}

describe('PreparedQuery', () => {
  let db: Kysely<Schema>;

  beforeEach(async () => {
    db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: new SqliteDatabase(':memory:') }) });
    await sql`create table items (id integer primary key, name text not null unique, note text, kind text not null)`.execute(db);
  });

  afterEach(() => db.destroy());

  const insert = () =>
    new PreparedQuery<{ id: number; name: string; note: string | null }, { id: number }>(db, ['id', 'name', 'note'], (slot) =>
      db
        .insertInto('items')
        .values({ id: slot('id'), name: slot('name'), note: slot('note'), kind: 'fixed' })
        .onConflict((oc) => oc.column('name').doNothing())
        .returning('id'),
    );

  it('binds new values into the statement compiled once, keeping its constants', async () => {
    const prepared = insert();
    expect((await prepared.execute({ id: 1, name: 'a', note: null })).rows).toEqual([{ id: 1 }]);
    expect((await prepared.execute({ id: 2, name: 'b', note: 'second' })).rows).toEqual([{ id: 2 }]);
    // The statement's own clauses hold: a conflict inserts nothing and returns nothing.
    expect((await prepared.execute({ id: 3, name: 'a', note: null })).rows).toEqual([]);
    expect(await db.selectFrom('items').selectAll().orderBy('id').execute()).toEqual([
      { id: 1, name: 'a', note: null, kind: 'fixed' },
      { id: 2, name: 'b', note: 'second', kind: 'fixed' },
    ]);
  });

  it('compiles to the same SQL as the query written out (PostgreSQL placeholders too)', () => {
    const postgres = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: {} as never }) });
    const prepared = new PreparedQuery<{ id: number; name: string }>(postgres, ['id', 'name'], (slot) =>
      postgres.updateTable('items').set({ name: slot('name'), kind: 'k' }).where('id', '=', slot('id')),
    );
    const direct = postgres.updateTable('items').set({ name: 'x', kind: 'k' }).where('id', '=', 7).compile();
    expect((prepared as unknown as { sql: string }).sql).toBe(direct.sql);
  });

  it('refuses a value missing at execution instead of writing NULL for it', async () => {
    await expect(insert().execute({ id: 1, name: 'a' } as never)).rejects.toThrow(/no value for note/);
    expect(await db.selectFrom('items').selectAll().execute()).toEqual([]);
  });

  it('refuses a slot used twice or never, a name it was not given, and returning every column (*)', () => {
    const twice = () => new PreparedQuery<{ id: number }>(db, ['id'], (slot) => db.updateTable('items').set({ id: slot('id') }).where('id', '=', slot('id')));
    expect(twice).toThrow(/id is bound 2 times/);
    const never = () => new PreparedQuery<{ id: number; name: string }>(db, ['id', 'name'], (slot) => db.deleteFrom('items').where('id', '=', slot('id')));
    expect(never).toThrow(/name is bound 0 times/);
    const unknown = () => new PreparedQuery<{ id: number }>(db, ['id'], (slot) => db.deleteFrom('items').where('id', '=', slot('other' as 'id')));
    expect(unknown).toThrow(/no value named other/);
    const everyColumn = () => new PreparedQuery<{ id: number }>(db, ['id'], (slot) => db.deleteFrom('items').where('id', '=', slot('id')).returningAll());
    expect(everyColumn).toThrow(/name the returned columns instead of \*/);
    const everyField = () => new PreparedQuery<{ id: number }>(db, ['id'], (slot) => db.selectFrom('items').selectAll('items').where('id', '=', slot('id')));
    expect(everyField).toThrow(/name the returned columns instead of \*/);
  });
});
