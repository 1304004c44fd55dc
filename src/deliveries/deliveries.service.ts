import { Injectable, Logger } from '@nestjs/common';
import { ConflictError, NotFoundError, UnprocessableError } from '../common/errors';
import { isUniqueViolation } from '../database/unique-violation';
import { dedupeKey } from './dedupe-key';
import { DeliveriesRepository } from './deliveries.repository';
import { readStoredPayload } from './delivery-payload';
import { validateWebhookPayload } from './webhook-payload';

export interface Replayed {
  delivery_id: string;
  status: 'queued';
  replayed_from: 'quarantined' | 'dead';
}

/** What operators may do to a stored delivery. */
@Injectable()
export class DeliveriesService {
  private readonly logger = new Logger(DeliveriesService.name);

  constructor(private readonly deliveries: DeliveriesRepository) {}

  /**
   * Quarantined → validated again under the current configuration (`eventTypes`), then queued; dead → queued
   * from scratch. The status change is one conditional statement, so of concurrent replays (or a replay and
   * ModelRiver's redelivery of the same webhook) exactly one wins; the others get a ConflictError. Audited.
   * The caller enqueues the job.
   */
  async replay(id: string, options: { eventTypes: readonly string[]; requestId: string }): Promise<Replayed> {
    const row = await this.deliveries.get(id);
    if (!row) throw new NotFoundError(`no delivery ${id}`);
    if (row.status !== 'quarantined' && row.status !== 'dead') {
      throw new ConflictError(`only quarantined or dead deliveries can be replayed (this one is ${row.status})`);
    }
    const from = row.status;
    const now = Date.now();
    let replayed: boolean;
    if (from === 'quarantined') {
      const validation = validateWebhookPayload(readStoredPayload(row), options.eventTypes);
      if (!validation.ok) throw new UnprocessableError('the delivery is still invalid', validation.errors);
      const key = dedupeKey(validation.channelId, validation.type);
      try {
        const { channelId, type, event } = validation;
        replayed = await this.deliveries.requeueQuarantined(id, { dedupeKey: key, channelId, type, event }, now);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const taken = await this.deliveries.findByDedupeKey(key);
        throw new ConflictError(`this delivery was received again and accepted as ${taken?.id ?? 'another delivery'}`);
      }
    } else {
      replayed = await this.deliveries.requeueDead(id, now);
    }
    if (!replayed) throw new ConflictError(`delivery ${id} changed meanwhile (replayed already?)`);
    await this.deliveries.audit({ action: 'replay', delivery_id: id, from_status: from, request_id: options.requestId, created_at: now });
    this.logger.warn(`admin replayed delivery ${id} (was ${from}; request ${options.requestId})`);
    return { delivery_id: id, status: 'queued', replayed_from: from };
  }
}
