import { Kysely } from 'kysely';

export const DELIVERY_STATUSES = [
  'queued',
  'processing',
  'retrying',
  'completed',
  'failed',
  'dead',
  'quarantined',
] as const;
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

export interface Database {
  webhook_deliveries: WebhookDeliveriesTable;
}

export type Db = Kysely<Database>;
