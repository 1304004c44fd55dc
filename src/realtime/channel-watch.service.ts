import { Inject, Injectable, Logger } from '@nestjs/common';
import { Namespace } from 'socket.io';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';

const WATCH_EVENT = 'realtime:watch';
const MAX_CHANNELS = 50_000;

/**
 * Which channels have (had, within REALTIME_STATE_TTL_MS) a subscriber on any instance. The worker's events for a channel
 * nobody watches are not published at all: no channel-state write, no Redis round trip, no fan-out. A late
 * subscriber loses nothing: its acknowledgement carries the stored view of the request (status, result,
 * callback), read only after every instance has learnt that the channel is watched. So an event is either
 * published (its channel was watched when the event was checked) or it was recorded before that read.
 *
 * Each instance keeps the set in memory; in the scale profile a subscribe announces the channel to the others
 * through the socket.io adapter and waits (bounded) for their acknowledgements.
 */
@Injectable()
export class ChannelWatch {
  private readonly logger = new Logger(ChannelWatch.name);
  private readonly channels = new Map<string, number>();
  private namespace?: Namespace;

  /** A channel stays watched as long as its state is kept for late subscribers (REALTIME_STATE_TTL_MS). */
  constructor(@Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig) {}

  /** `shared`: other instances exist (the Redis adapter): tell them, and hear from them. */
  attach(namespace: Namespace, shared: boolean): void {
    if (!shared) return;
    this.namespace = namespace;
    namespace.on(WATCH_EVENT, (channelId: unknown, ack?: () => void) => {
      if (typeof channelId === 'string') this.add(channelId);
      ack?.();
    });
  }

  /** Marks the channel watched here and, in the scale profile, on every instance that answers in time. */
  async watch(channelId: string): Promise<void> {
    this.add(channelId);
    if (!this.namespace) return;
    try {
      // Bounded by the adapter's request timeout (see ConfiguredIoAdapter).
      await this.namespace.serverSideEmitWithAck(WATCH_EVENT, channelId);
    } catch (error) {
      // An instance that does not answer (stopping, unreachable) may skip an event it runs meanwhile.
      this.logger.warn(`not every instance acknowledged the watch of channel ${channelId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  isWatched(channelId: string): boolean {
    const until = this.channels.get(channelId);
    if (until === undefined) return false;
    if (until >= Date.now()) return true;
    this.channels.delete(channelId);
    return false;
  }

  private add(channelId: string): void {
    this.channels.delete(channelId); // re-insert: Map order is then oldest-first for eviction
    this.channels.set(channelId, Date.now() + this.config.stateTtlMs);
    if (this.channels.size > MAX_CHANNELS) this.channels.delete(this.channels.keys().next().value!);
  }
}
