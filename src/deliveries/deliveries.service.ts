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

/** Whether a replay of a delivery can succeed now, and if not, why. */
export type Replayability = { replayable: true } | { replayable: false; why: string };

/** What operators may do to a stored delivery. */
@Injectable()
export class DeliveriesService {
  private readonly logger = new Logger(DeliveriesService.name);

  constructor(private readonly deliveries: DeliveriesRepository) {}

  /**
   * What replay() would say, without changing anything: a dead delivery can always run again; a quarantined one
   * only if it is valid under the current configuration and its channel was not accepted meanwhile.
   */
  async replayability(row: { status: string; payload: string; id: string }, eventTypes: readonly string[]): Promise<Replayability> {
    if (row.status === 'dead') return { replayable: true };
    if (row.status !== 'quarantined') return { replayable: false, why: `a ${row.status} delivery is not replayed` };
    let validation: ReturnType<typeof validateWebhookPayload>;
    try {
      validation = validateWebhookPayload(readStoredPayload(row), eventTypes);
    } catch {
      return { replayable: false, why: 'the stored body is not a JSON object' };
    }
    if (!validation.ok) return { replayable: false, why: `still invalid: ${validation.errors.join('; ')}` };
    const taken = await this.deliveries.findByDedupeKey(dedupeKey(validation.channelId, validation.type));
    return taken ? { replayable: false, why: `received again and accepted as ${taken.id}` } : { replayable: true };
  }

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
