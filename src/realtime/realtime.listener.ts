import { Inject, Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { AI_REQUEST_STARTED, AiRequestStartedEvent } from '../ai/events/ai-request-started.event';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';
import { DELIVERY_PROGRESS, DeliveryProgressEvent } from '../event-handlers/events/delivery-progress.event';
import { SUBSCRIBER_LEFT } from './ai.gateway';
import { RealtimePublisher } from './realtime.publisher';
import { UpstreamRelay } from './upstream-relay.service';

/** Turns what the rest of the app announces into realtime work; nothing here blocks the announcer. */
@Injectable()
export class RealtimeListener {
  constructor(
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    private readonly relay: UpstreamRelay,
    private readonly publisher: RealtimePublisher,
  ) {}

  @OnEvent(AI_REQUEST_STARTED)
  requestStarted(event: AiRequestStartedEvent): void {
    // In direct mode the browser talks to ModelRiver itself; we open no upstream.
    if (this.config.mode !== 'gateway' || !event.wsToken || !event.websocketUrl || !event.websocketChannel) return;
    this.relay.follow(event.channelId, event.wsToken, event.websocketUrl, event.websocketChannel);
  }

  @OnEvent(DELIVERY_PROGRESS.processing)
  processing(event: DeliveryProgressEvent): void {
    void this.publisher.processing(event.channelId);
  }

  @OnEvent(DELIVERY_PROGRESS.processed)
  processed(event: DeliveryProgressEvent): void {
    void this.publisher.processed(event.channelId, event.result, event.callbackStatus);
    this.relay.requestEnded(event.channelId);
  }

  @OnEvent(DELIVERY_PROGRESS.failed)
  failed(event: DeliveryProgressEvent): void {
    void this.publisher.failed(event.channelId, event.error ?? 'processing failed');
    this.relay.requestEnded(event.channelId);
  }

  @OnEvent(SUBSCRIBER_LEFT)
  subscriberLeft(channelId: string): void {
    this.relay.subscriberLeft(channelId);
  }
}
