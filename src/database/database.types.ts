import { Kysely, Selectable } from 'kysely';

/** queued → processing → completed, or → retrying → … → dead; quarantined: authentic but invalid (replayable). */
export const DELIVERY_STATUSES = ['queued', 'processing', 'retrying', 'completed', 'dead', 'quarantined'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Times are epoch milliseconds: one representation for SQLite and PostgreSQL. */
export interface WebhookDeliveriesTable {
  id: string;
  dedupe_key: string;
  channel_id: string | null;
  type: string | null;
  event: string | null;
  status: DeliveryStatus;
  attempts: number;
  next_run_at: number;
  lease_until: number | null;
  lease_token: string | null;
  payload: string;
  signature_scheme: string;
  signature_secret_index: number;
  validation_errors: string | null;
  last_error: string | null;
  result: string | null;
  callback_status: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export interface ContentsTable {
  id: string;
  channel_id: string;
  title: string;
  body: string;
  slug: string;
  created_at: number;
}

export interface EntitiesTable {
  id: string;
  channel_id: string;
  name: string;
  /** Lower-cased name: entities are unique per channel, case-insensitively. */
  name_key: string;
  type: string | null;
  position: number;
  created_at: number;
}

export interface TaskResultsTable {
  channel_id: string;
  workflow: string | null;
  status: string;
  data: string | null;
  meta: string | null;
  created_at: number;
}

export type CallbackKind = 'result' | 'error';
export type CallbackOutcome = 'delivered' | 'retryable' | 'final' | 'refused';

export interface CallbackAttemptsTable {
  id: string;
  delivery_id: string;
  kind: CallbackKind;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  outcome: CallbackOutcome;
  error: string | null;
  created_at: number;
}

export interface AiRequestsTable {
  channel_id: string;
  workflow: string;
  /** What ModelRiver last said about the request: `pending` at start. */
  status: string;
  metadata: string | null;
  /** ModelRiver's start reply without the single-use ws_token. */
  upstream_response: string | null;
  created_at: number;
  updated_at: number;
}

export interface AdminAuditTable {
  id: string;
  action: string;
  delivery_id: string;
  from_status: string;
  request_id: string | null;
  created_at: number;
}

export interface Database {
  admin_audit: AdminAuditTable;
  ai_requests: AiRequestsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  contents: ContentsTable;
  entities: EntitiesTable;
  task_results: TaskResultsTable;
  callback_attempts: CallbackAttemptsTable;
}

export type Db = Kysely<Database>;

/** A stored delivery as read back. */
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

/**
 * What a run reads of the delivery it claimed: a claim returns these and no more. better-sqlite3 builds a property
 * for every returned column, so the whole row (20 columns) cost a claim ~4 µs a row more than these seven
 * (bench/HISTORY.md, "Figures of 2026-12-07, 22:28–22:53"). Named, never `RETURNING *`: on PostgreSQL a prepared
 * statement whose result columns change (a newer instance's migration adds one) fails on every connection that
 * prepared it.
 */
export const CLAIMED_COLUMNS = ['id', 'status', 'attempts', 'payload', 'result', 'callback_status', 'created_at'] as const satisfies readonly (keyof WebhookDeliveriesTable)[];
export type ClaimedRow = Pick<DeliveryRow, (typeof CLAIMED_COLUMNS)[number]>;
