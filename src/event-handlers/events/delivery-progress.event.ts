import { JsonObject } from '../../common/json';

export const DELIVERY_PROGRESS = {
  processing: 'delivery.processing',
  processed: 'delivery.processed',
  failed: 'delivery.failed',
} as const;

/** What the worker did with a channel's delivery, for whoever follows the channel (the realtime gateway). */
export class DeliveryProgressEvent {
  constructor(
    readonly channelId: string,
    readonly deliveryId: string,
    readonly result?: JsonObject,
    readonly callbackStatus?: string | null,
    readonly error?: string,
  ) {}
}
