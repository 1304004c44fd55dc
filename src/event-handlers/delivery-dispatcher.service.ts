import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { isJsonObject, JsonObject } from '../common/json';
import { callbackConfig, CallbackConfig, processingConfig, ProcessingConfig } from '../config/configuration';
import { ClaimedRow } from '../database/database.types';
import { DeliveriesRepository, SETTLED_CALLBACK_STATUSES } from '../deliveries/deliveries.repository';
import { readStoredPayload } from '../deliveries/delivery-payload';
import { AI_GENERATED } from '../deliveries/webhook-payload';
import { DeliveryJob, DeliveryJobHandler, JOB_QUEUE, JobContext, JobQueue, PermanentJobError, RunCompletion } from '../jobs/job-queue.port';
import { MetricsService } from '../metrics/metrics.service';
import { CallbackSender, CallbackTarget } from './callback-sender.service';
import { DELIVERY_PROGRESS, DeliveryProgressEvent } from './events/delivery-progress.event';
import { ModelRiverEvent, toModelRiverEvent } from './events/modelriver-event';
import { PermanentProcessingError } from './processing.errors';
import { ProcessorRegistry } from './processor-registry.service';

const toTarget = (delivery: ClaimedRow, event: ModelRiverEvent): CallbackTarget | undefined =>
  event.type === AI_GENERATED && event.callbackUrl
    ? {
        deliveryId: delivery.id,
        channelId: event.channelId,
        callbackUrl: event.callbackUrl,
        receivedAt: Number(delivery.created_at),
      }
    : undefined;

/**
 * The worker side of a delivery, and the JobQueue's one handler: load → emit `modelriver.<type>.<event>`
 * (emitAsync; exactly one processor answers) → store the result → callback. The stored result and callback
 * status make every step safe to repeat: a retry never processes twice, and never calls back twice after a
 * recorded success.
 */
@Injectable()
export class DeliveryDispatcher implements DeliveryJobHandler, OnModuleInit {
  private readonly logger = new Logger(DeliveryDispatcher.name);

  constructor(
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    private readonly deliveries: DeliveriesRepository,
    private readonly events: EventEmitter2,
    private readonly processors: ProcessorRegistry,
    private readonly callbacks: CallbackSender,
    @Inject(processingConfig.KEY) private readonly processing: ProcessingConfig,
    @Inject(callbackConfig.KEY) private readonly callbackSettings: CallbackConfig,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.queue.setHandler(this);
  }

  async handle(job: DeliveryJob, context: JobContext): Promise<RunCompletion> {
    const { delivery, event } = await this.load(job.deliveryId, context.claimed, context.claimedPayload);
    const unchecked = toTarget(delivery, event);
    // Refuse a bad callback URL before doing any work for it: no connection is ever made.
    const checked = unchecked && this.callbacks.check(unchecked);
    if (checked && !checked.ok) {
      await this.deliveries.setCallbackStatus(delivery.id, 'refused');
      throw new PermanentJobError(`callback refused: ${checked.reason}`);
    }
    const target = checked?.target;

    // A stored result (an earlier run's callback did not get through) is reused, never computed again. A fresh one
    // is written with the completion, or kept below when the run ends otherwise. (A crash between processing and
    // the callback's answer runs the processor again: processors are idempotent.)
    const stored = delivery.result === null ? undefined : (JSON.parse(delivery.result) as JsonObject);
    if (stored === undefined) this.events.emit(DELIVERY_PROGRESS.processing, new DeliveryProgressEvent(event.channelId, delivery.id));
    const result = stored ?? (await this.process(event, delivery, context));
    const fresh = stored === undefined ? result : undefined;
    const processed = (callbackStatus: string) => () =>
      this.events.emit(DELIVERY_PROGRESS.processed, new DeliveryProgressEvent(event.channelId, delivery.id, result, callbackStatus));

    if (!target) {
      return { result: fresh, callbackStatus: delivery.callback_status === null ? 'not_required' : undefined, announce: processed('not_required') };
    }
    if (delivery.callback_status === 'delivered') return { result: fresh, announce: processed('delivered') };
    const sent = await this.callbacks.sendResult(target, result, event.event, context);
    // The completion, written at once, records ModelRiver's 2xx; the attempt's own row follows.
    if (sent.status === 'delivered') return { result: fresh, callbackStatus: 'delivered', attempt: sent.unrecorded, announce: processed('delivered') };
    if (fresh || sent.status === 'refused') await this.deliveries.saveResult(delivery.id, result, sent.status === 'refused' ? 'refused' : undefined);
    if (context.draining.aborted) throw new Error('interrupted by shutdown');
    throw new PermanentJobError(sent.status === 'failed' ? `callback failed after ${sent.attempts} attempt${sent.attempts === 1 ? '' : 's'}: ${sent.reason}` : `callback refused: ${sent.reason}`);
  }

  /** Failed for good: tell ModelRiver once, unless the URL itself is the problem or the result already went out. */
  async onDead(job: DeliveryJob, error: Error, context: JobContext): Promise<{ announce?: () => void }> {
    const { delivery, event } = await this.load(job.deliveryId).catch(() => ({ delivery: undefined, event: undefined }));
    if (!delivery || !event) return {};
    const announce = () =>
      this.events.emit(DELIVERY_PROGRESS.failed, new DeliveryProgressEvent(event.channelId, delivery.id, undefined, undefined, error.message.slice(0, 500)));
    const target = toTarget(delivery, event);
    const settled = SETTLED_CALLBACK_STATUSES as readonly (string | null)[];
    if (!target || settled.includes(delivery.callback_status)) return { announce };
    const sent = await this.callbacks.sendError(target, error.message.slice(0, 500), context);
    if (sent.status !== 'delivered') {
      await this.deliveries.setCallbackStatus(delivery.id, sent.status === 'refused' ? 'refused' : 'error_failed');
    }
    this.logger.warn(`delivery ${delivery.id} error callback ${sent.status}`);
    return { announce };
  }

  private async process(event: ModelRiverEvent, delivery: ClaimedRow, context: JobContext): Promise<JsonObject> {
    const route = this.processors.route(event.name);
    if (route === 'pass_through') return event.aiData;
    if (route === undefined) {
      if (this.processing.unknownEventPolicy === 'reject' && event.type === AI_GENERATED) {
        throw new PermanentJobError(`no processor for event ${event.event ?? event.type}`);
      }
      this.logger.warn(`no processor for ${event.name}: passing the AI data through (delivery ${delivery.id})`);
      return event.aiData;
    }
    const stopTimer = this.metrics.processing.startTimer({ event: event.event ?? event.type });
    const started = performance.now();
    try {
      const results = (await this.events.emitAsync(event.name, event)) as unknown[];
      if (results.length !== 1 || !isJsonObject(results[0])) {
        throw new PermanentJobError(`processor for ${event.name} must return one object, got ${results.length} answers`);
      }
      this.logger.debug(
        `processed delivery ${delivery.id} ${event.name} in ${Math.round(performance.now() - started)} ms (attempt ${context.attempt})`,
      );
      stopTimer({ outcome: 'ok' });
      return results[0];
    } catch (error) {
      stopTimer({ outcome: 'error' });
      if (error instanceof PermanentProcessingError || error instanceof PermanentJobError) {
        throw new PermanentJobError(error.message, { cause: error });
      }
      // Retrying only helps while a callback can still make ModelRiver's window.
      const windowEnd = Number(delivery.created_at) + this.callbackSettings.budgetMs - 2 * this.callbackSettings.timeoutMs;
      if (event.type === AI_GENERATED && Date.now() > windowEnd) {
        throw new PermanentJobError(`processing kept failing until the callback window closed: ${String(error)}`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * `claimed`: the row as the queue's claim returned it (see JobContext.claimed), read when there is none;
   * `payload`: the claimed row's payload already parsed (JobContext.claimedPayload), parsed here when there is none.
   */
  private async load(deliveryId: string, claimed?: ClaimedRow, payload?: JsonObject): Promise<{ delivery: ClaimedRow; event: ModelRiverEvent }> {
    const delivery = claimed ?? (await this.deliveries.findById(deliveryId));
    if (!delivery) throw new PermanentJobError(`delivery ${deliveryId} does not exist`);
    try {
      return { delivery, event: toModelRiverEvent(delivery.id, payload ?? readStoredPayload(delivery)) };
    } catch (error) {
      throw new PermanentJobError(`delivery ${deliveryId}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
