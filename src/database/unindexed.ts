import { RawBuilder, sql } from 'kysely';

/**
 * A text column as an expression no index can serve (`column || ''`, in SQLite and PostgreSQL alike): a condition on
 * it then filters the rows that another index finds, in that index's order, instead of choosing the index itself.
 * For the few queries where a planner would choose wrongly: SQLite keeps no statistics, so it prefers an equality on
 * the (status, next_run_at) index to a range or an order on (created_at, id), even for `completed`, which is nearly
 * every row; it then reads and sorts all of them, on the event loop.
 */
export function unindexed<T extends string>(column: string): RawBuilder<T> {
  return sql<T>`${sql.ref(column)} || ''`;
}
