import { Inject, Injectable, Logger } from '@nestjs/common';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { retentionConfig, RetentionConfig, webhookConfig, WebhookConfig } from '../config/configuration';
import { DeliveryRow } from '../database/database.types';
import { CallbackAttemptsRepository } from '../deliveries/callback-attempts.repository';
import { DeliveriesRepository, DeliverySummary, isUnfinished } from '../deliveries/deliveries.repository';
import { DeliveriesService, Replayed } from '../deliveries/deliveries.service';
import { JOB_QUEUE, JobQueue } from '../jobs/job-queue.port';
import { CompletedTally } from './completed-tally';
import { ListDeliveriesQuery } from './dto/list-deliveries.dto';

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** Cursor = the last item's (created_at, id), newest first; opaque to clients. */
const encodeCursor = (createdAt: number, id: string) => Buffer.from(`${createdAt}:${id}`).toString('base64url');
function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (!/^\d+$/.test(createdAt ?? '') || !id) throw new InvalidRequestError('cursor is not valid');
  return { createdAt: Number(createdAt), id };
}

/** Why a delivery needs an operator, in words: the last error of a dead one, the validation errors of a quarantined one. */
function reasonOf(row: Pick<DeliveryRow, 'status' | 'last_error' | 'validation_errors'>): string | null {
  if (row.status === 'quarantined' && row.validation_errors) return (json(row.validation_errors) as string[]).join('; ');
  return row.status === 'dead' || row.status === 'retrying' ? row.last_error : null;
}

/** Unfinished and without a callback status: its callback, if it has one, is still to come. */
const isInFlight = (row: Pick<DeliveryRow, 'status' | 'callback_status'>) =>
  row.callback_status === null && isUnfinished(row.status);

/** The admin API's view of deliveries: pages, details, stats, and replays (which the queue then runs). */
@Injectable()
export class AdminService {
  private readonly logger = new Logger(AdminService.name);
  private readonly completed = new CompletedTally(
    () => this.deliveries.countCompleted(),
    (error) => this.logger.warn(`counting completed deliveries failed: ${error instanceof Error ? error.message : String(error)}`),
  );

  constructor(
    private readonly deliveries: DeliveriesRepository,
    private readonly attempts: CallbackAttemptsRepository,
    private readonly operations: DeliveriesService,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    @Inject(webhookConfig.KEY) private readonly webhooks: WebhookConfig,
    @Inject(retentionConfig.KEY) private readonly retention: RetentionConfig,
  ) {}

  async list(query: ListDeliveriesQuery) {
    const limit = query.limit ?? 50;
    const { rows, next } = await this.deliveries.list({
      status: query.status,
      type: query.type,
      event: query.event,
      since: query.since === undefined ? undefined : Date.parse(query.since),
      until: query.until === undefined ? undefined : Date.parse(query.until),
      search: query.search,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit,
    });
    // A delivery still on its way has no callback status yet; what it has is the attempts that failed so far, which
    // the list counts for those rows alone.
    const failed = await this.attempts.countFailed(rows.filter(isInFlight).map((row) => row.id));
    return {
      items: await Promise.all(rows.map((row) => this.summary(row, failed))),
      next_cursor: next ? encodeCursor(next.createdAt, next.id) : null,
    };
  }

  async stats() {
    const [rows, completed, oldestKept] = await Promise.all([this.deliveries.countUncompleted(), this.completed.read(), this.deliveries.oldestKeptAt()]);
    return {
      by_status: { ...(completed.count > 0 ? { completed: completed.count } : {}), ...Object.fromEntries(rows.map((row) => [row.status, row.count])) },
      // Completed deliveries are nearly every row: a large table's are counted at most once a minute (CompletedTally).
      completed_counted_at: iso(completed.countedAt),
      // The oldest delivery still kept (received at): what retention has left. Per status for all but completed
      // (finding the oldest completed would read every row; the oldest overall is nearly always one).
      oldest_kept_at: oldestKept === undefined ? null : iso(oldestKept),
      oldest_by_status: Object.fromEntries(rows.map((row) => [row.status, iso(row.oldestAt)])),
      retention: { completed: this.retention.completed, failed: this.retention.failed },
    };
  }

  async get(id: string) {
    const row = await this.deliveries.get(id);
    if (!row) throw new NotFoundError(`no delivery ${id}`);
    const [attempts, audit, replay] = await Promise.all([this.attempts.list(id), this.deliveries.auditTrail(id), this.replayability(row)]);
    return {
      ...row,
      payload: json(row.payload),
      validation_errors: json(row.validation_errors),
      result: json(row.result),
      reason: reasonOf(row),
      ...replay,
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      completed_at: iso(row.completed_at),
      next_run_at: iso(row.next_run_at),
      callback_attempts: attempts.map((attempt) => ({ ...attempt, created_at: iso(attempt.created_at) })),
      audit: audit.map((entry) => ({ ...entry, created_at: iso(entry.created_at) })),
    };
  }

  /** Quarantined (validated again under the current configuration) or dead → queued; see DeliveriesService.replay. */
  async replay(id: string, requestId: string): Promise<Replayed> {
    const replayed = await this.operations.replay(id, { eventTypes: this.webhooks.eventTypes, requestId });
    await this.queue.requeue({ deliveryId: id });
    return replayed;
  }

  /**
   * A list item: the row without its body, with the reason it needs an operator, whether a replay can succeed, and
   * for a delivery still on its way its failed callback attempts (`failed`: by delivery id).
   */
  private async summary(row: DeliverySummary, failed: Map<string, number>) {
    const { payload: _payload, validation_errors: _errors, ...shown } = row;
    return {
      ...shown,
      reason: reasonOf(row),
      ...(await this.replayability(row)),
      ...(isInFlight(row) ? { failed_callback_attempts: failed.get(row.id) ?? 0 } : {}),
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
    };
  }

  /** `replayable`, and `replay_blocked` (why not) for a delivery that needs an operator. */
  private async replayability(row: Pick<DeliveryRow, 'id' | 'status' | 'payload'>) {
    if (row.status !== 'dead' && row.status !== 'quarantined') return { replayable: false };
    const verdict = await this.operations.replayability(row, this.webhooks.eventTypes);
    return verdict.replayable ? { replayable: true } : { replayable: false, replay_blocked: verdict.why };
  }
}
