import { Injectable, Logger } from '@nestjs/common';
import { JsonObject } from '../common/json';
import { AiGateway } from './ai.gateway';
import { ChannelStateStore, StateChange } from './channel-state.store';
import { ChannelWatch } from './channel-watch.service';
import { PlainSocketGateway } from './plain-socket.gateway';
import { AiEventBody, AiEventPayload, AiServerEventName } from './realtime-events';

/** Publishes a channel's events to its subscribers, each with the channel's next sequence number and server time (`at`). */
@Injectable()
export class RealtimePublisher {
  private readonly logger = new Logger(RealtimePublisher.name);

  constructor(
    private readonly gateway: AiGateway,
    private readonly states: ChannelStateStore,
    private readonly watch: ChannelWatch,
    private readonly plainSockets: PlainSocketGateway,
  ) {}

  upstreamResponse(channelId: string, response: JsonObject): Promise<void> {
    const status = typeof response.status === 'string' ? response.status : undefined;
    return this.publish(channelId, 'ai:response', { status, last_response: response }, response);
  }

  upstreamError(channelId: string, message: string): Promise<void> {
    return this.publish(channelId, 'ai:error', { error: message }, { source: 'upstream', error: message });
  }

  // Our own progress is published only to channels someone watches: a late subscriber reads it from storage.

  processing(channelId: string): Promise<void> {
    if (!this.watch.isWatched(channelId)) return Promise.resolve();
    return this.publish(channelId, 'ai:processing', { status: 'processing' }, { status: 'processing' });
  }

  processed(channelId: string, result: JsonObject | undefined, callbackStatus: string | null | undefined): Promise<void> {
    if (!this.watch.isWatched(channelId)) return Promise.resolve();
    return this.publish(
      channelId,
      'ai:processed',
      { status: 'completed', processed: result },
      { status: 'completed', result: result ?? null, callback_status: callbackStatus ?? null },
    );
  }

  failed(channelId: string, error: string): Promise<void> {
    if (!this.watch.isWatched(channelId)) return Promise.resolve();
    return this.publish(channelId, 'ai:error', { status: 'failed', error }, { source: 'processing', status: 'failed', error });
  }

  /** Never throws: a lost live event is recovered by the subscriber's replay or by polling. */
  private async publish<E extends AiServerEventName>(channelId: string, event: E, change: StateChange, body: AiEventBody<E>): Promise<void> {
    try {
      const state = await this.states.advance(channelId, change);
      // A spread, not merged(): `body` may be ModelRiver's own response, whose keys go out as they came.
      const payload = { ...body, channel_id: channelId, seq: state.seq, at: state.updated_at } as AiEventPayload<E>;
      this.gateway.emit(channelId, event, payload);
      this.plainSockets.deliver(channelId, event, payload);
    } catch (error) {
      this.logger.warn(`could not publish ${event} for channel ${channelId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
