import { setImmediate } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { Insertable, RawBuilder, SelectQueryBuilder, sql } from 'kysely';
import { InjectBackgroundDatabase, InjectDatabase } from '../database/database.module';
import { AdminAuditTable, Database, DELIVERY_STATUSES, DeliveryRow, DeliveryStatus, Db, WebhookDeliveriesTable } from '../database/database.types';
import { PreparedQuery, slotsFor } from '../database/prepared-query';
import { newRowId } from '../database/row-id';

/** What intake writes: every column of a new delivery that is not left NULL until it is processed. */
const INTAKE_COLUMNS = [
  'id',
  'dedupe_key',
  'channel_id',
  'type',
  'event',
  'status',
  'attempts',
  'next_run_at',
  'lease_until',
  'lease_token',
  'payload',
  'signature_scheme',
  'signature_secret_index',
  'validation_errors',
  'created_at',
  'updated_at',
] as const;

/** Left out, they are NULL: only a quarantined delivery has validation errors, and only one inserted already claimed a lease. */
type OptionalAtIntake = 'validation_errors' | 'lease_until' | 'lease_token';

export type NewDelivery = Pick<WebhookDeliveriesTable, Exclude<(typeof INTAKE_COLUMNS)[number], OptionalAtIntake>> &
  Partial<Pick<WebhookDeliveriesTable, OptionalAtIntake>>;

/**
 * The row a NewDelivery makes, as a read of it right after the insert would return it. Column by column, not
 * `{ ...row, … }`: intake builds it for every webhook, and on Node 20 properties defined after a spread are slow (see
 * `merged` in common/json.ts).
 */
export function insertedRow(row: NewDelivery): DeliveryRow {
  return {
    id: row.id,
    dedupe_key: row.dedupe_key,
    channel_id: row.channel_id,
    type: row.type,
    event: row.event,
    status: row.status,
    attempts: row.attempts,
    next_run_at: row.next_run_at,
    lease_until: row.lease_until ?? null,
    lease_token: row.lease_token ?? null,
    payload: row.payload,
    signature_scheme: row.signature_scheme,
    signature_secret_index: row.signature_secret_index,
    validation_errors: row.validation_errors ?? null,
    last_error: null,
    result: null,
    callback_status: null,
    created_at: row.created_at,
    updated_at: row.updated_at,
    completed_at: null,
  };
}

/** delivered: result callback accepted · error_sent / error_failed: the error callback's fate · refused: URL policy · not_required: no callback in this workflow */
export type CallbackStatus = 'delivered' | 'error_sent' | 'error_failed' | 'refused' | 'not_required';

/** The callback statuses after which no callback is ever sent again for a delivery. */
export const SETTLED_CALLBACK_STATUSES: readonly CallbackStatus[] = ['delivered', 'error_sent', 'error_failed', 'refused'];

/** Deliveries that are not finished: what the queue still owes a callback (or a run). */
export const UNFINISHED_STATUSES = ['queued', 'retrying', 'processing'] as const satisfies readonly DeliveryStatus[];

/** Whether a delivery in this status is one of UNFINISHED_STATUSES. */
export const isUnfinished = (status: string): boolean => (UNFINISHED_STATUSES as readonly string[]).includes(status);

const UNCOMPLETED_STATUSES = DELIVERY_STATUSES.filter((status) => status !== 'completed');

/** Index entries one statement of countCompleted reads: about a millisecond of the event loop on SQLite. */
const COUNT_SLICE = 20_000;

/** Lets the event loop serve what waits (intake, callbacks) before the next slice. */
const nextTurn = () => setImmediate();

/**
 * The status column for a condition on `statuses`. Completed deliveries are nearly every row: with `completed` among
 * them the status only filters the rows another index finds, in its order (`status || ''`, which no index serves, in
 * SQLite and PostgreSQL alike). SQLite would otherwise take the (status, next_run_at) index, also with ANALYZE's
 * statistics, and read and sort every completed delivery on the event loop (~0.3 s per 200,000) to return a few.
 * The other statuses are few: their range of that index is the short way to them.
 */
export function statusColumn(statuses: readonly DeliveryStatus[]): RawBuilder<DeliveryStatus> | 'status' {
  return statuses.includes('completed') ? sql<DeliveryStatus>`${sql.ref('status')} || ''` : 'status';
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  type?: string;
  event?: string;
  /** Received at or after (epoch ms). */
  since?: number;
  /** Received before (epoch ms). */
  until?: number;
  /** A delivery id or a channel id. */
  search?: string;
  /** Continue after this row (newest first: older, or as old with a smaller id). */
  after?: DeliveryCursor;
  limit: number;
}

/** A delivery's place in a list, newest first: its (created_at, id). */
export interface DeliveryCursor {
  createdAt: number;
  id: string;
}

export interface DeliveryPage {
  /** At most `limit`, newest first. */
  rows: DeliverySummary[];
  /** Where the next page starts, when older deliveries may match: after the last row, or after the last delivery a bounded page read. */
  next?: DeliveryCursor;
}

/** Deliveries one page of a list filtered on type or event reads at most: ~3–10 ms of the event loop on SQLite. */
export const LIST_SCAN_LIMIT = 10_000;

/** A list's time range: `since`, `until`, and after the cursor `after`; all served by the (created_at, id) index. */
function inRange<O>(query: SelectQueryBuilder<Database, 'webhook_deliveries', O>, filter: DeliveryFilter): SelectQueryBuilder<Database, 'webhook_deliveries', O> {
  let ranged = query;
  if (filter.since !== undefined) ranged = ranged.where('created_at', '>=', filter.since);
  if (filter.until !== undefined) ranged = ranged.where('created_at', '<', filter.until);
  const after = filter.after;
  if (after) {
    // The plain bound starts the index walk at the cursor (SQLite takes no range from the OR); the OR leaves out
    // the deliveries of the cursor's millisecond shown already.
    ranged = ranged
      .where('created_at', '<=', after.createdAt)
      .where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb('id', '<', after.id)]));
  }
  return ranged;
}

export type DeliverySummary = Pick<
  DeliveryRow,
  'id' | 'channel_id' | 'type' | 'event' | 'status' | 'attempts' | 'callback_status' | 'last_error' | 'validation_errors' | 'payload' | 'created_at' | 'updated_at'
>;

/**
 * The webhook_deliveries table, and the audit of what operators did to it. The status and admin APIs read
 * through `db`; intake's insert and the worker's steps (load, result, callback status) use `background`, and
 * wait for durability themselves (WriteBarrier) before anything depends on it.
 */
@Injectable()
export class DeliveriesRepository {
  /** Intake's insert, the one statement every webhook runs: compiled once (see PreparedQuery). */
  private readonly insertNew: PreparedQuery<DeliveryRow>;

  constructor(
    @InjectDatabase() private readonly db: Db,
    @InjectBackgroundDatabase() private readonly background: Db,
  ) {
    this.insertNew = new PreparedQuery(background, INTAKE_COLUMNS, (slot) =>
      background
        .insertInto('webhook_deliveries')
        .values(slotsFor(slot, INTAKE_COLUMNS))
        // No RETURNING: the row's id and status are the ones given, and the count of inserted rows tells whether it
        // went in. On SQLite (which collects a RETURNING clause's rows in memory before handing them out) the
        // clause made this insert ~60 % dearer: 37 against 23 µs per delivery at full intake.
        .onConflict((oc) => oc.column('dedupe_key').doNothing()),
    );
  }

  /**
   * Atomic insert-if-absent on the unique dedupe key: concurrent duplicates (even from several instances)
   * all learn the id of the one row that won. Answers as soon as it ran (background view): the caller waits
   * for durability itself (WriteBarrier.synced) before it answers anyone.
   */
  async insertIfAbsent(
    row: NewDelivery,
  ): Promise<{ id: string; status: DeliveryStatus } & ({ inserted: true; row: DeliveryRow } | { inserted: false })> {
    const inserted = insertedRow(row);
    const { numAffectedRows } = await this.insertNew.execute(inserted);
    if ((numAffectedRows ?? 0n) > 0n) return { id: row.id, status: row.status, inserted: true, row: inserted };
    const existing = await this.background
      .selectFrom('webhook_deliveries')
      .select(['id', 'status'])
      .where('dedupe_key', '=', row.dedupe_key)
      .executeTakeFirstOrThrow();
    return { ...existing, inserted: false };
  }

  /**
   * The processor's output, kept when a run ends without completing (its callback was refused or interrupted),
   * so the next run does not process again; a completed run writes it with its completion instead.
   */
  async saveResult(id: string, result: unknown, callbackStatus?: CallbackStatus): Promise<void> {
    await this.background
      .updateTable('webhook_deliveries')
      .set({ result: JSON.stringify(result), updated_at: Date.now(), ...(callbackStatus ? { callback_status: callbackStatus } : {}) })
      .where('id', '=', id)
      .execute();
  }

  async setCallbackStatus(id: string, callbackStatus: CallbackStatus, error?: string): Promise<void> {
    await this.background
      .updateTable('webhook_deliveries')
      .set({ callback_status: callbackStatus, updated_at: Date.now(), ...(error ? { last_error: error } : {}) })
      .where('id', '=', id)
      .execute();
  }

  /** The channel's delivery (quarantined ones aside): the webhook that answers a started request. */
  findForChannel(channelId: string): Promise<DeliveryRow | undefined> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('channel_id', '=', channelId)
      .where('status', '<>', 'quarantined')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** For the worker (background view: it sees its own job's writes at once). */
  findById(id: string): Promise<DeliveryRow | undefined> {
    return this.background.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** For operators (answers once what it read is committed). */
  get(id: string): Promise<DeliveryRow | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * One page, newest first. A filter on type or event (or on `completed` with one of them) is checked on each row
   * the (created_at, id) index walk reaches, and a rare value would walk the whole table on the event loop
   * (~0.3–1.7 s per million rows, again on each of the dashboard's refreshes). So such a page reads at most
   * `scanLimit` deliveries: when it stops there without a row to spare, the next page starts after the last
   * delivery it read, and may hold fewer than `limit` rows, or none.
   */
  async list(filter: DeliveryFilter, scanLimit = LIST_SCAN_LIMIT): Promise<DeliveryPage> {
    const bounded = (filter.type !== undefined || filter.event !== undefined) && !filter.search && (filter.status === undefined || filter.status === 'completed');
    const scannedTo = bounded ? await this.scanBoundary(filter, scanLimit) : undefined;
    // A bounded page starts its range at the last delivery it may read (no earlier than `since`, which that read respected).
    let select = inRange(
      this.db
        .selectFrom('webhook_deliveries')
        .select(['id', 'channel_id', 'type', 'event', 'status', 'attempts', 'callback_status', 'last_error', 'validation_errors', 'payload', 'created_at', 'updated_at'])
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(filter.limit + 1),
      scannedTo ? { ...filter, since: scannedTo.createdAt } : filter,
    );
    // The newest completed deliveries come from walking the (created_at, id) index backwards (see statusColumn).
    if (filter.status) select = select.where(statusColumn([filter.status]), '=', filter.status);
    if (filter.type) select = select.where('type', '=', filter.type);
    if (filter.event) select = select.where('event', '=', filter.event);
    const search = filter.search;
    if (search) select = select.where((eb) => eb.or([eb('id', '=', search), eb('channel_id', '=', search)]));
    if (scannedTo) {
      // Of that millisecond's deliveries, only those read before it.
      const { createdAt, id } = scannedTo;
      select = select.where((eb) => eb.or([eb('created_at', '>', createdAt), eb('id', '>=', id)]));
    }
    const rows = await select.execute();
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    // One row more than `limit` says there is a next page.
    const next = rows.length > filter.limit && last ? { createdAt: Number(last.created_at), id: last.id } : scannedTo;
    return next ? { rows: page, next } : { rows: page };
  }

  /** The `scanLimit`-th delivery of the page's range, newest first (read in the index alone), if there are that many. */
  private async scanBoundary(filter: DeliveryFilter, scanLimit: number): Promise<DeliveryCursor | undefined> {
    const row = await inRange(this.db.selectFrom('webhook_deliveries').select(['created_at', 'id']), filter)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(scanLimit - 1)
      .limit(1)
      .executeTakeFirst();
    return row && { createdAt: Number(row.created_at), id: row.id };
  }

  /**
   * When the longest-waiting delivery that is due and not yet claimed became due (queued or retrying; one index
   * range on (status, next_run_at)), or undefined when none waits. Shared by every instance in the scale profile.
   */
  async dueUnclaimedSince(now: number): Promise<number | undefined> {
    const row = await this.background
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_run_at').as('since'))
      .where('status', 'in', ['queued', 'retrying'])
      .where('next_run_at', '<=', now)
      .executeTakeFirst();
    return row?.since == null ? undefined : Number(row.since);
  }

  /**
   * Deliveries of every status but `completed`, and when the oldest of each arrived: those a healthy system has
   * few of (waiting, running, or needing an operator). /metrics and the dashboard poll this, so it reads only
   * their range of the (status, next_run_at) index and their rows, never the whole table.
   */
  async countUncompleted(): Promise<{ status: Exclude<DeliveryStatus, 'completed'>; count: number; oldestAt: number }[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count'), (eb) => eb.fn.min('created_at').as('oldest')])
      .where('status', 'in', UNCOMPLETED_STATUSES)
      .groupBy('status')
      .execute();
    return rows.map((row) => ({ status: row.status as Exclude<DeliveryStatus, 'completed'>, count: Number(row.count), oldestAt: Number(row.oldest) }));
  }

  /**
   * Completed deliveries (nearly every row), counted in the (status, next_run_at) index, never in the table, a slice
   * of `slice` entries per statement with `between` awaited between slices. One statement over the whole range
   * would hold SQLite's event loop for as long as the table is large (25–64 ns an entry: ~0.4 s at 6 million).
   * Each slice ends where the entry `slice` further on starts, so no entry is counted twice or skipped; entries
   * sharing one `next_run_at` (one millisecond's) stay in one slice. Rows that change meanwhile are counted as the
   * slice that reaches them finds them.
   */
  async countCompleted(slice = COUNT_SLICE, between: () => Promise<void> = nextTurn): Promise<{ count: number; slices: number }> {
    const completed = () => this.db.selectFrom('webhook_deliveries').where('status', '=', 'completed');
    let count = 0;
    let from: number | undefined;
    for (let slices = 1; ; slices++) {
      const start = from;
      const boundary = await completed()
        .select('next_run_at')
        .$if(start !== undefined, (query) => query.where('next_run_at', '>=', start!))
        .orderBy('next_run_at')
        .offset(slice)
        .limit(1)
        .executeTakeFirst();
      const end = boundary === undefined ? undefined : Math.max(Number(boundary.next_run_at), start === undefined ? -Infinity : start + 1);
      const row = await completed()
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .$if(start !== undefined, (query) => query.where('next_run_at', '>=', start!))
        .$if(end !== undefined, (query) => query.where('next_run_at', '<', end!))
        .executeTakeFirstOrThrow();
      count += Number(row.count);
      if (end === undefined) return { count, slices };
      from = end;
      await between();
    }
  }

  /** When the oldest delivery still kept arrived (the first entry of the created_at index). */
  async oldestKeptAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('created_at').as('oldest'))
      .executeTakeFirst();
    return row?.oldest == null ? undefined : Number(row.oldest);
  }

  /**
   * Makes a quarantined delivery a normal one, queued to run, if it still is quarantined. One conditional
   * statement: of two concurrent replays only one changes the row. A delivery accepted meanwhile under the
   * same dedupe key makes the unique index refuse it (the caller maps that to a conflict).
   */
  async requeueQuarantined(
    id: string,
    accepted: { dedupeKey: string; channelId: string; type: string; event: string | null },
    now: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({
        ...requeued(now),
        dedupe_key: accepted.dedupeKey,
        channel_id: accepted.channelId,
        type: accepted.type,
        event: accepted.event,
        validation_errors: null,
      })
      .where('id', '=', id)
      .where('status', '=', 'quarantined')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** A dead delivery from scratch (processor and callback run again), if it still is dead. */
  async requeueDead(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ ...requeued(now), result: null, callback_status: null, completed_at: null })
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Background view: sees a row inserted in this very turn too. */
  findByDedupeKey(dedupeKey: string): Promise<{ id: string } | undefined> {
    return this.background.selectFrom('webhook_deliveries').select('id').where('dedupe_key', '=', dedupeKey).executeTakeFirst();
  }

  async audit(entry: Omit<Insertable<AdminAuditTable>, 'id'>): Promise<void> {
    await this.db
      .insertInto('admin_audit')
      .values({ id: newRowId(), ...entry })
      .execute();
  }

  auditTrail(deliveryId: string) {
    return this.db.selectFrom('admin_audit').selectAll().where('delivery_id', '=', deliveryId).orderBy('created_at').execute();
  }
}

const requeued = (now: number) => ({
  status: 'queued' as const,
  attempts: 0,
  next_run_at: now,
  lease_until: null,
  lease_token: null,
  last_error: null,
  updated_at: now,
});
