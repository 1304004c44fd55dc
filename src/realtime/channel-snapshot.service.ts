import { Injectable } from '@nestjs/common';
import { AiService } from '../ai/ai.service';
import { ChannelStateStore } from './channel-state.store';

/** A channel's latest state for a new listener: the stored view (status, results) merged with what only the relay saw. */
@Injectable()
export class ChannelSnapshotService {
  constructor(
    private readonly states: ChannelStateStore,
    private readonly requests: AiService,
  ) {}

  async get(channelId: string): Promise<Record<string, unknown>> {
    const live = await this.states.get(channelId).catch(() => undefined);
    const stored = await this.requests.find(channelId).catch(() => undefined);
    return { channel_id: channelId, seq: live?.seq ?? 0, last_response: live?.last_response ?? null, ...stored };
  }
}
