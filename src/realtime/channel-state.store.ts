import { Inject, Injectable } from '@nestjs/common';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';

/** The latest known state of a channel, replayed to late subscribers. */
export interface ChannelState {
  channel_id: string;
  /** Increases with every event published on the channel, so clients can drop duplicates. */
  seq: number;
  status?: string;
  last_response?: Record<string, unknown>;
  processed?: unknown;
  error?: string;
  updated_at: string;
}

const MAX_CHANNELS = 50_000;

/** In-memory, bounded in time (REALTIME_STATE_TTL_MS) and in size; durable facts are in the database. */
@Injectable()
export class ChannelStateStore {
  private readonly states = new Map<string, { state: ChannelState; expiresAt: number }>();

  constructor(@Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig) {}

  get(channelId: string): ChannelState | undefined {
    const entry = this.states.get(channelId);
    if (!entry) return undefined;
    if (entry.expiresAt < Date.now()) {
      this.states.delete(channelId);
      return undefined;
    }
    return entry.state;
  }

  /** Applies a change and takes the next sequence number. */
  advance(channelId: string, change: Partial<Omit<ChannelState, 'channel_id' | 'seq'>>): ChannelState {
    const previous = this.get(channelId);
    const state: ChannelState = {
      ...previous,
      ...change,
      channel_id: channelId,
      seq: (previous?.seq ?? 0) + 1,
      updated_at: new Date().toISOString(),
    };
    this.states.delete(channelId); // re-insert: Map order is then oldest-first for eviction
    this.states.set(channelId, { state, expiresAt: Date.now() + this.config.stateTtlMs });
    if (this.states.size > MAX_CHANNELS) this.states.delete(this.states.keys().next().value!);
    return state;
  }
}
