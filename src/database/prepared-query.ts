import { createHash } from 'node:crypto';
import { Compilable, CompiledQuery, createQueryId, Kysely, QueryResult } from 'kysely';

/** What `build` receives: `slot(name)` stands for the value named `name`, typed as that value. */
export type SlotOf<V> = <K extends keyof V & string>(name: K) => V[K];

/** `{ column: slot(column) }` for every column: a row (an insert's values) bound whole at each execution. */
export function slotsFor<V, K extends keyof V & string>(slot: SlotOf<V>, columns: readonly K[]): Pick<V, K> {
  return Object.fromEntries(columns.map((column) => [column, slot(column)])) as Pick<V, K>;
}

/**
 * The SQL of every PreparedQuery built in this process, with the name its statement goes by on a PostgreSQL
 * connection. Bounded: one entry per statement shape the code declares, never per execution.
 */
const statementNames = new Map<string, string>();

/**
 * The server-side name for `sql` if a PreparedQuery declared it, else undefined (an ad-hoc statement, parsed each time).
 * The name comes from the text, so the same statement gets the same name in every process and on every connection.
 */
export function preparedStatementName(sql: string): string | undefined {
  return statementNames.get(sql);
}

/** Stands for a value bound at each execution; Kysely compiles it as an ordinary parameter. */
class Slot {
  constructor(readonly name: string) {}
}

/**
 * A statement whose shape never changes, built and compiled by Kysely once: each execution binds its values into
 * the compiled SQL instead of building the query tree and compiling it again, which on the delivery hot path
 * (a ~14-column insert, the completion update) cost ~15–30 µs and a few dozen short-lived objects per statement.
 *
 * On PostgreSQL the statement also runs as a named prepared statement (preparedStatementName, read by the pool's
 * client class in database.factory.ts): each connection parses and plans it once. So it must return or select
 * named columns, never `*` (refused here): a prepared statement whose result columns change (another instance's
 * migration) fails on every connection that holds it.
 *
 * `build` receives `slot(name)` to put wherever a value goes (a value, never a list or a column name: those would
 * change the SQL); everything else it writes stays constant. Each slot must appear exactly once in the compiled
 * statement's parameters, checked here once.
 */
export class PreparedQuery<V extends Record<string, unknown>, R = unknown> {
  private readonly sql: string;
  private readonly query: CompiledQuery['query'];
  /** Per compiled parameter: the name of the value it takes, or the constant it always is. */
  private readonly bindings: ReadonlyArray<{ name: keyof V & string } | { constant: unknown }>;

  constructor(
    private readonly db: Kysely<any>, // eslint-disable-line @typescript-eslint/no-explicit-any -- any database: only its executor is used
    names: ReadonlyArray<keyof V & string>,
    /** `slot(name)` is typed as the value it stands for, so the builder checks it against the column it goes in. */
    build: (slot: SlotOf<V>) => Compilable<R>,
  ) {
    const slots = new Map(names.map((name) => [name, new Slot(name)]));
    const slot: SlotOf<V> = (name) => {
      const found = slots.get(name);
      if (!found) throw new Error(`prepared query: no value named ${name}`);
      return found as never;
    };
    const compiled = build(slot).compile();
    this.sql = compiled.sql;
    if (/\b(returning|select) ("[^"]+"\.)?\*/i.test(this.sql)) throw new Error(`prepared query: name the returned columns instead of * (${this.sql})`);
    this.query = compiled.query;
    if (!statementNames.has(this.sql)) statementNames.set(this.sql, `mr_${createHash('sha256').update(this.sql).digest('hex').slice(0, 24)}`);
    this.bindings = compiled.parameters.map((parameter) => (parameter instanceof Slot ? { name: parameter.name } : { constant: parameter }));
    for (const name of names) {
      const uses = this.bindings.filter((binding) => 'name' in binding && binding.name === name).length;
      if (uses !== 1) throw new Error(`prepared query: ${name} is bound ${uses} times, not once (${this.sql})`);
    }
  }

  async execute(values: V): Promise<QueryResult<R>> {
    const parameters = this.bindings.map((binding) => {
      if (!('name' in binding)) return binding.constant;
      const value = values[binding.name];
      // Kysely would leave an undefined column out of the statement; a compiled one cannot: say so, never guess.
      if (value === undefined) throw new Error(`prepared query: no value for ${binding.name}`);
      return value;
    });
    return this.db.executeQuery<R>({ sql: this.sql, parameters, query: this.query, queryId: createQueryId() });
  }
}
