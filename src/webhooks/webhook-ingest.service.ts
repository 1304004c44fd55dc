import { Inject, Injectable, Logger } from '@nestjs/common';
import { OverloadedError, ServiceUnavailableError } from '../common/errors';
import { isJsonObject, JsonObject } from '../common/json';
import { webhookConfig, WebhookConfig } from '../config/configuration';
import { WRITE_BARRIER } from '../database/database.module';
import { newRowId } from '../database/row-id';
import { WriteBarrier } from '../database/write-barrier';
import { dedupeKey, quarantineKey } from '../deliveries/dedupe-key';
import { DeliveriesRepository, NewDelivery } from '../deliveries/deliveries.repository';
import { parseDeliveryPayload } from '../deliveries/delivery-payload';
import { validateWebhookPayload } from '../deliveries/webhook-payload';
import { JOB_QUEUE, JobQueue, SlotReservation } from '../jobs/job-queue.port';
import { MetricsService } from '../metrics/metrics.service';
import { IntakeAdmission } from './intake-admission.service';
import { SignatureMatch } from './webhook-signature.guard';

export type WebhookAnswer =
  | { received: true; delivery_id: string; duplicate: boolean }
  | { received: true; delivery_id: string; duplicate: boolean; quarantined: true; errors: string[] };

const clip = (value: unknown, max: number): string | null =>
  typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null;

/** What intake knows of a delivery it is about to store. */
interface Intake extends Pick<NewDelivery, 'dedupe_key' | 'status' | 'channel_id' | 'type' | 'event'> {
  now: number;
  text: string;
  signature: SignatureMatch;
  validation_errors?: string;
}

/**
 * The delivery's row, claimed by `claim` when intake holds a worker slot for it. One object literal, not shared fields
 * spread and these added: this runs for every webhook, and on Node 20 properties defined after a spread are slow (see
 * `merged` in common/json.ts).
 */
function newDelivery(intake: Intake, claim?: SlotReservation['claim']): NewDelivery {
  return {
    id: newRowId(intake.now),
    dedupe_key: intake.dedupe_key,
    channel_id: intake.channel_id,
    type: intake.type,
    event: intake.event,
    status: claim ? claim.status : intake.status,
    attempts: claim ? claim.attempts : 0,
    next_run_at: intake.now,
    lease_until: claim ? claim.lease_until : null,
    lease_token: claim ? claim.lease_token : null,
    payload: intake.text,
    signature_scheme: intake.signature.scheme,
    signature_secret_index: intake.signature.secretIndex,
    validation_errors: intake.validation_errors ?? null,
    created_at: intake.now,
    updated_at: intake.now,
  };
}

/**
 * The short ingest path: parse safely, validate, store (insert-if-absent), wake the worker, answer once the
 * row is durable. Only authentic bodies get here (the signature guard ran first).
 */
@Injectable()
export class WebhookIngestService {
  private readonly logger = new Logger(WebhookIngestService.name);

  constructor(
    private readonly deliveries: DeliveriesRepository,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    private readonly metrics: MetricsService,
    @Inject(webhookConfig.KEY) private readonly config: WebhookConfig,
    @Inject(WRITE_BARRIER) private readonly barrier: WriteBarrier,
    private readonly admission: IntakeAdmission,
  ) {}

  async ingest(rawBody: Buffer, signature: SignatureMatch): Promise<WebhookAnswer> {
    this.metrics.signatureSchemes.inc({ scheme: signature.scheme });
    const text = rawBody.toString('utf8');
    let payload: unknown;
    try {
      payload = parseDeliveryPayload(text);
    } catch (error) {
      this.metrics.rejected('json');
      throw error;
    }
    const validation = validateWebhookPayload(payload, this.config.eventTypes);
    const now = Date.now();

    if (!validation.ok) {
      // Authentic but unusable: keep it (an operator can replay it after a fix) and answer 202 so
      // ModelRiver stops retrying something that can never succeed. Identical bodies share one row.
      const fields = isJsonObject(payload) ? payload : {};
      const stored = await this.store(
        {
          now,
          text,
          signature,
          dedupe_key: quarantineKey(rawBody),
          status: 'quarantined',
          channel_id: clip(fields.channel_id, 200),
          type: clip(fields.type, 100),
          event: clip(fields.event, 200),
          validation_errors: JSON.stringify(validation.errors),
        },
        { enqueue: false },
      );
      this.logger.warn(`quarantined delivery ${stored.id}: ${validation.errors.join('; ')}`);
      this.metrics.webhooks.inc({ outcome: 'quarantined', reason: '' });
      return {
        received: true,
        delivery_id: stored.id,
        duplicate: !stored.inserted,
        quarantined: true,
        errors: validation.errors,
      };
    }

    const key = dedupeKey(validation.channelId, validation.type);
    // Over the backlog limit a new delivery is refused, but a redelivery of one already stored still gets its 200.
    if (!(await this.admission.admits()) && !(await this.deliveries.findByDedupeKey(key).catch(this.storageFailed))) {
      this.metrics.rejected('backlog');
      throw new OverloadedError('too many deliveries are waiting to be processed; retry later', undefined, this.admission.retryAfterSeconds());
    }
    const stored = await this.store(
      {
        now,
        text,
        signature,
        dedupe_key: key,
        status: 'queued',
        channel_id: validation.channelId,
        type: validation.type,
        event: validation.event,
      },
      {
        enqueue: true,
        payload: validation.payload,
        // Logged as soon as the row exists, before the worker (woken next) can log anything about it.
        stored: ({ id, inserted }) =>
          inserted
            ? this.logger.log(`accepted delivery ${id} ${validation.type}/${validation.event ?? '-'} channel ${validation.channelId} (${signature.scheme})`)
            : this.logger.debug(`duplicate of delivery ${id} channel ${validation.channelId}`),
      },
    );
    this.metrics.webhooks.inc({ outcome: stored.inserted ? 'accepted' : 'duplicate', reason: '' });
    return { received: true, delivery_id: stored.id, duplicate: !stored.inserted };
  }

  /**
   * Inserts (if absent) and answers once the row is durable. With `enqueue`, the worker gets it as soon as the
   * insert ran: on SQLite its job's first writes then share this group commit and its fsync instead of waiting for
   * the next one. Nothing leaves the process before that commit: the job's callback waits for it
   * (JobContext.persisted), and if the commit fails the job's writes are rolled back with the row.
   *
   * While the queue has a free slot and nothing waiting (embedded: JobQueue.reserveSlot), the row goes in already
   * claimed and runs from the payload parsed here; otherwise it goes in queued and the queue is woken.
   */
  private async store(
    intake: Intake,
    options: { enqueue: false } | { enqueue: true; payload: JsonObject; stored: (stored: { id: string; inserted: boolean }) => void },
  ) {
    const mark = this.barrier.mark();
    const slot = options.enqueue ? this.queue.reserveSlot?.(intake.now) : undefined;
    let stored: Awaited<ReturnType<DeliveriesRepository['insertIfAbsent']>>;
    try {
      stored = await this.deliveries.insertIfAbsent(newDelivery(intake, slot?.claim));
    } catch (error) {
      slot?.release();
      return this.storageFailed(error);
    }
    if (options.enqueue) {
      options.stored(stored);
      if (slot && stored.inserted) slot.run(stored.row, options.payload, mark);
      else {
        slot?.release();
        // A duplicate still queued may have missed its enqueue (crash between insert and enqueue): enqueue
        // again; the queue dedupes by delivery id.
        if (stored.inserted || stored.status === 'queued') await this.enqueue(stored.id);
      }
    }
    await this.barrier.synced(mark).catch(this.storageFailed);
    return stored;
  }

  private readonly storageFailed = (error: unknown): never => {
    this.metrics.rejected('storage');
    throw new ServiceUnavailableError('delivery storage is unavailable, retry later', { cause: error });
  };

  private async enqueue(deliveryId: string): Promise<void> {
    try {
      await this.queue.enqueue({ deliveryId });
    } catch (error) {
      this.metrics.rejected('storage');
      throw new ServiceUnavailableError('delivery queue is unavailable, retry later', { cause: error });
    }
  }
}
