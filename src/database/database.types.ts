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

/** Every column of a delivery, checked complete by its type: `true` for each one. */
const DELIVERY_COLUMN_SET: Record<keyof WebhookDeliveriesTable, true> = {
  id: true,
  dedupe_key: true,
  channel_id: true,
  type: true,
  event: true,
  status: true,
  attempts: true,
  next_run_at: true,
  lease_until: true,
  lease_token: true,
  payload: true,
  signature_scheme: true,
  signature_secret_index: true,
  validation_errors: true,
  last_error: true,
  result: true,
  callback_status: true,
  created_at: true,
  updated_at: true,
  completed_at: true,
};

/**
 * A delivery's columns by name, for statements that return whole rows. A prepared statement that said
 * `RETURNING *` would fail ("cached plan must not change result type") on every connection that prepared it
 * once a migration of a newer instance adds a column; a named list keeps returning the same columns.
 */
export const DELIVERY_COLUMNS = Object.keys(DELIVERY_COLUMN_SET) as (keyof WebhookDeliveriesTable)[];
