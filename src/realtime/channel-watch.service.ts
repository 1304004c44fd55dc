import { Inject, Injectable, Logger } from '@nestjs/common';
import { Namespace } from 'socket.io';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';

const WATCH_EVENT = 'realtime:watch';
const FORWARD_EVENT = 'realtime:forward';
const MAX_CHANNELS = 50_000;

/**
 * Which channels have (had, within REALTIME_STATE_TTL_MS) a subscriber on any instance. The worker's events for a channel
 * nobody watches are not published at all: no channel-state write, no Redis round trip, no fan-out. A late
 * subscriber loses nothing: its acknowledgement carries the stored view of the request (status, result,
 * callback), read only after every instance has learnt that the channel is watched. So an event is either
 * published (its channel was watched when the event was checked) or it was recorded before that read.
 *
 * Each instance keeps the set in memory; in the scale profile a subscribe announces the channel to the others
 * through the socket.io adapter and waits (bounded) for their acknowledgements. It also knows which channels have
 * plain WebSocket listeners (the /ws/ai route), which are in no socket.io room: their events are forwarded to
 * every instance, where the route delivers them to its own sockets.
 */
@Injectable()
export class ChannelWatch {
  private readonly logger = new Logger(ChannelWatch.name);
  private readonly channels = new Map<string, number>();
  private readonly plainChannels = new Map<string, number>();
  private namespace?: Namespace;
  private forwarded?: (channelId: string, event: string, payload: unknown) => void;

  /** A channel stays watched as long as its state is kept for late subscribers (REALTIME_STATE_TTL_MS). */
  constructor(@Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig) {}

  /** `shared`: other instances exist (the Redis adapter): tell them, and hear from them. */
  attach(namespace: Namespace, shared: boolean): void {
    if (!shared) return;
    this.namespace = namespace;
    namespace.on(WATCH_EVENT, (channelId: unknown, plain: unknown, ack?: () => void) => {
      if (typeof channelId === 'string') this.add(channelId, plain === true);
      ack?.();
    });
    namespace.on(FORWARD_EVENT, (channelId: unknown, event: unknown, payload: unknown) => {
      if (typeof channelId === 'string' && typeof event === 'string') this.forwarded?.(channelId, event, payload);
    });
  }

  /**
   * Marks the channel watched here and, in the scale profile, on every instance that answers in time. `plain`: by
   * a plain WebSocket listener (its events must also be forwarded, see forward()).
   */
  async watch(channelId: string, plain = false): Promise<void> {
    this.add(channelId, plain);
    if (!this.namespace) return;
    try {
      // Bounded by the adapter's request timeout (see ConfiguredIoAdapter).
      await this.namespace.serverSideEmitWithAck(WATCH_EVENT, channelId, plain);
    } catch (error) {
      // An instance that does not answer (stopping, unreachable) may skip an event it runs meanwhile.
      this.logger.warn(`not every instance acknowledged the watch of channel ${channelId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  isWatched(channelId: string): boolean {
    return current(this.channels, channelId);
  }

  hasPlainListeners(channelId: string): boolean {
    return current(this.plainChannels, channelId);
  }

  /** Sends a channel's event to the other instances (for their plain WebSocket listeners). */
  forward(channelId: string, event: string, payload: unknown): void {
    this.namespace?.serverSideEmit(FORWARD_EVENT, channelId, event, payload);
  }

  /** Where events forwarded by other instances go (the plain WebSocket route). */
  onForwarded(listener: (channelId: string, event: string, payload: unknown) => void): void {
    this.forwarded = listener;
  }

  private add(channelId: string, plain: boolean): void {
    remember(this.channels, channelId, Date.now() + this.config.stateTtlMs);
    if (plain) remember(this.plainChannels, channelId, Date.now() + this.config.stateTtlMs);
  }
}

/** Whether a channel is in the set and not expired (an expired one is dropped). */
function current(set: Map<string, number>, channelId: string): boolean {
  const until = set.get(channelId);
  if (until === undefined) return false;
  if (until >= Date.now()) return true;
  set.delete(channelId);
  return false;
}

function remember(set: Map<string, number>, channelId: string, until: number): void {
  set.delete(channelId); // re-insert: Map order is then oldest-first for eviction
  set.set(channelId, until);
  if (set.size > MAX_CHANNELS) set.delete(set.keys().next().value!);
}
