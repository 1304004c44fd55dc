import { Injectable } from '@nestjs/common';
import { JsonObject } from '../webhooks/webhook-envelope';
import { AiGateway } from './ai.gateway';
import { ChannelStateStore } from './channel-state.store';

/** Publishes a channel's events to its subscribers, each with the channel's next sequence number and server time (`at`). */
@Injectable()
export class RealtimePublisher {
  constructor(
    private readonly gateway: AiGateway,
    private readonly states: ChannelStateStore,
  ) {}

  upstreamResponse(channelId: string, response: Record<string, unknown>): void {
    const status = typeof response.status === 'string' ? response.status : undefined;
    const state = this.states.advance(channelId, { status, last_response: response });
    this.gateway.emit(channelId, 'ai:response', { ...response, channel_id: channelId, seq: state.seq, at: state.updated_at });
  }

  upstreamError(channelId: string, message: string): void {
    const state = this.states.advance(channelId, { error: message });
    this.gateway.emit(channelId, 'ai:error', { channel_id: channelId, seq: state.seq, at: state.updated_at, source: 'upstream', error: message });
  }

  processing(channelId: string): void {
    const state = this.states.advance(channelId, { status: 'processing' });
    this.gateway.emit(channelId, 'ai:processing', { channel_id: channelId, seq: state.seq, at: state.updated_at, status: 'processing' });
  }

  processed(channelId: string, result: JsonObject | undefined, callbackStatus: string | null | undefined): void {
    const state = this.states.advance(channelId, { status: 'completed', processed: result });
    this.gateway.emit(channelId, 'ai:processed', {
      channel_id: channelId,
      seq: state.seq,
      at: state.updated_at,
      status: 'completed',
      result: result ?? null,
      callback_status: callbackStatus ?? null,
    });
  }

  failed(channelId: string, error: string): void {
    const state = this.states.advance(channelId, { status: 'failed', error });
    this.gateway.emit(channelId, 'ai:error', { channel_id: channelId, seq: state.seq, at: state.updated_at, source: 'processing', status: 'failed', error });
  }
}
