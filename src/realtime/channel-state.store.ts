import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import IORedis from 'ioredis';
import { merged } from '../common/json';
import { realtimeConfig, RealtimeConfig, redisConfig, RedisConfig } from '../config/configuration';

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

export type StateChange = Partial<Omit<ChannelState, 'channel_id' | 'seq' | 'updated_at'>>;

const MAX_CHANNELS = 50_000;

/**
 * Bounded in time (REALTIME_STATE_TTL_MS); durable facts live in the database. In memory for the embedded
 * profile; in Redis for the scale profile, where events of one channel come from several instances and
 * `seq` must still only grow.
 */
@Injectable()
export class ChannelStateStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ChannelStateStore.name);
  private readonly memory = new Map<string, { state: ChannelState; expiresAt: number }>();
  private redis?: IORedis;

  constructor(
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    @Inject(redisConfig.KEY) private readonly redisSettings: RedisConfig,
  ) {}

  /** The scale profile keeps channel state in Redis; the connection opens with the app, not with the object. */
  onModuleInit(): void {
    if (!this.redisSettings.url) return;
    this.redis = new IORedis(this.redisSettings.url, { maxRetriesPerRequest: 1 });
    this.redis.on('error', (error: Error) => this.logger.warn(`channel state redis: ${error.message}`));
  }

  async get(channelId: string): Promise<ChannelState | undefined> {
    if (this.redis) {
      const fields = await this.redis.hgetall(key(channelId));
      if (!fields.seq) return undefined;
      const state: Record<string, unknown> = { channel_id: channelId, seq: Number(fields.seq), updated_at: fields.updated_at };
      for (const [name, value] of Object.entries(fields)) if (name !== 'seq' && name !== 'updated_at') state[name] = JSON.parse(value);
      return state as unknown as ChannelState;
    }
    const entry = this.memory.get(channelId);
    if (!entry) return undefined;
    if (entry.expiresAt < Date.now()) {
      this.memory.delete(channelId);
      return undefined;
    }
    return entry.state;
  }

  /** Applies a change and takes the next sequence number. */
  async advance(channelId: string, change: StateChange): Promise<ChannelState> {
    const updatedAt = new Date().toISOString();
    if (this.redis) {
      const values = Object.entries(change).flatMap(([name, value]) => (value === undefined ? [] : [name, JSON.stringify(value)]));
      const results = await this.redis
        .multi()
        .hincrby(key(channelId), 'seq', 1)
        .hset(key(channelId), 'updated_at', updatedAt, ...values)
        .pexpire(key(channelId), this.config.stateTtlMs)
        .exec();
      const seq = Number(results?.[0]?.[1]);
      return merged(change, { channel_id: channelId, seq, updated_at: updatedAt });
    }
    const previous = await this.get(channelId);
    const state: ChannelState = merged(previous ?? {}, change, { channel_id: channelId, seq: (previous?.seq ?? 0) + 1, updated_at: updatedAt });
    this.memory.delete(channelId); // re-insert: Map order is then oldest-first for eviction
    this.memory.set(channelId, { state, expiresAt: Date.now() + this.config.stateTtlMs });
    if (this.memory.size > MAX_CHANNELS) this.memory.delete(this.memory.keys().next().value!);
    return state;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => undefined);
  }
}

const key = (channelId: string) => `mr:channel:${channelId}`;
