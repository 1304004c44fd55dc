import { BadRequestException, ConflictException, Inject, Injectable, Logger, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { webhookConfig, WebhookConfig } from '../config/configuration';
import { InjectDatabase } from '../database/database.module';
import { Db } from '../database/database.types';
import { newRowId } from '../database/row-id';
import { CallbackAttemptsRepository } from '../event-handlers/callback/callback-attempts.repository';
import { JOB_QUEUE, JobQueue } from '../jobs/job-queue.port';
import { validateWebhookPayload } from '../webhooks/dto/webhook-payload.dto';
import { normaliseWebhookPayload, parseWebhookJson } from '../webhooks/webhook-envelope';
import { ListDeliveriesQuery } from './dto/list-deliveries.dto';

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** Cursor = the last item's (created_at, id), newest first; opaque to clients. */
const encodeCursor = (createdAt: number, id: string) => Buffer.from(`${createdAt}:${id}`).toString('base64url');
function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (!/^\d+$/.test(createdAt ?? '') || !id) throw new BadRequestException('cursor is not valid');
  return { createdAt: Number(createdAt), id };
}

@Injectable()
export class AdminService {
  private readonly logger = new Logger(AdminService.name);

  constructor(
    @InjectDatabase() private readonly db: Db,
    private readonly attempts: CallbackAttemptsRepository,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    @Inject(webhookConfig.KEY) private readonly webhooks: WebhookConfig,
  ) {}

  async list(query: ListDeliveriesQuery) {
    const limit = query.limit ?? 50;
    let select = this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'channel_id', 'type', 'event', 'status', 'attempts', 'callback_status', 'last_error', 'created_at', 'updated_at'])
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1);
    if (query.status) select = select.where('status', '=', query.status);
    if (query.type) select = select.where('type', '=', query.type);
    if (query.event) select = select.where('event', '=', query.event);
    if (query.since) select = select.where('created_at', '>=', Date.parse(query.since));
    if (query.until) select = select.where('created_at', '<', Date.parse(query.until));
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      select = select.where((eb) =>
        eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
      );
    }
    const rows = await select.execute();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => ({ ...row, created_at: iso(row.created_at), updated_at: iso(row.updated_at) })),
      next_cursor: rows.length > limit && last ? encodeCursor(Number(last.created_at), last.id) : null,
    };
  }

  async stats() {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('status')
      .execute();
    return { by_status: Object.fromEntries(rows.map((row) => [row.status, Number(row.count)])) };
  }

  async get(id: string) {
    const row = await this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundException(`no delivery ${id}`);
    const audit = await this.db.selectFrom('admin_audit').selectAll().where('delivery_id', '=', id).orderBy('created_at').execute();
    return {
      ...row,
      payload: json(row.payload),
      validation_errors: json(row.validation_errors),
      result: json(row.result),
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      completed_at: iso(row.completed_at),
      next_run_at: iso(row.next_run_at),
      callback_attempts: (await this.attempts.list(id)).map((attempt) => ({ ...attempt, created_at: iso(attempt.created_at) })),
      audit: audit.map((entry) => ({ ...entry, created_at: iso(entry.created_at) })),
    };
  }

  /**
   * Quarantined → validated again under the current configuration, then queued; dead → queued from scratch
   * (processor and callback run again). Audited, and logged.
   */
  async replay(id: string, requestId: string) {
    const row = await this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundException(`no delivery ${id}`);
    if (row.status !== 'quarantined' && row.status !== 'dead') {
      throw new ConflictException(`only quarantined or dead deliveries can be replayed (this one is ${row.status})`);
    }
    const now = Date.now();
    const reset = { status: 'queued' as const, attempts: 0, next_run_at: now, lease_until: null, lease_token: null, last_error: null, updated_at: now };
    if (row.status === 'quarantined') {
      const validation = validateWebhookPayload(normaliseWebhookPayload(parseWebhookJson(row.payload)), this.webhooks.eventTypes);
      if (!validation.ok) throw new UnprocessableEntityException({ message: 'the delivery is still invalid', errors: validation.errors });
      const dedupeKey = `${validation.channelId}:${validation.type}`;
      const taken = await this.db.selectFrom('webhook_deliveries').select('id').where('dedupe_key', '=', dedupeKey).executeTakeFirst();
      if (taken) throw new ConflictException(`this delivery was received again and accepted as ${taken.id}`);
      await this.db
        .updateTable('webhook_deliveries')
        .set({ ...reset, dedupe_key: dedupeKey, channel_id: validation.channelId, type: validation.type, event: validation.event, validation_errors: null })
        .where('id', '=', id)
        .where('status', '=', 'quarantined')
        .execute();
    } else {
      await this.db
        .updateTable('webhook_deliveries')
        .set({ ...reset, result: null, callback_status: null, completed_at: null })
        .where('id', '=', id)
        .where('status', '=', 'dead')
        .execute();
    }
    await this.db
      .insertInto('admin_audit')
      .values({ id: newRowId(), action: 'replay', delivery_id: id, from_status: row.status, request_id: requestId, created_at: now })
      .execute();
    await this.queue.enqueue({ deliveryId: id });
    this.logger.warn(`admin replayed delivery ${id} (was ${row.status}; request ${requestId})`);
    return { delivery_id: id, status: 'queued', replayed_from: row.status };
  }
}
