import { Inject, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import { Namespace, Socket } from 'socket.io';
import { verifySubscriptionToken } from '../ai/subscription-token';
import { realtimeConfig, RealtimeConfig, redisConfig, RedisConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ChannelSnapshotService } from './channel-snapshot.service';
import { ChannelWatch } from './channel-watch.service';
import { AiClientEvents, AiEventPayload, AiServerEventName, AiServerEvents } from './realtime-events';

export const SUBSCRIBER_LEFT = 'realtime.subscriber.left';
export const AI_NAMESPACE = '/ai';

export type SubscribeAck = { ok: true; state: Record<string, unknown> } | { ok: false; error: string };

const room = (channelId: string) => `channel:${channelId}`;
const channelOf = (roomName: string) => (roomName.startsWith('channel:') ? roomName.slice('channel:'.length) : undefined);

/**
 * socket.io namespace `/ai`: browsers `subscribe {channel_id, subscribe_token}` and receive `ai:response`,
 * `ai:processing`, `ai:processed` and `ai:error` for that channel. The acknowledgement carries the channel's
 * latest state, so a late subscriber misses nothing.
 */
@WebSocketGateway({ namespace: AI_NAMESPACE })
export class AiGateway implements OnGatewayInit, OnGatewayConnection {
  private readonly logger = new Logger(AiGateway.name);
  @WebSocketServer() private readonly server: Namespace<AiClientEvents, AiServerEvents>;

  constructor(
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    private readonly snapshots: ChannelSnapshotService,
    private readonly events: EventEmitter2,
    private readonly metrics: MetricsService,
    private readonly watch: ChannelWatch,
    @Inject(redisConfig.KEY) private readonly redis: RedisConfig,
  ) {}

  afterInit(server: Namespace<AiClientEvents, AiServerEvents>): void {
    this.watch.attach(server, this.redis.profile === 'scale');
  }

  handleConnection(socket: Socket<AiClientEvents, AiServerEvents>): void {
    this.metrics.socketConnections.inc();
    socket.on('disconnecting', () => {
      this.metrics.socketConnections.dec();
      for (const name of socket.rooms) {
        const channelId = channelOf(name);
        if (!channelId) continue;
        this.metrics.socketSubscriptions.dec();
        setImmediate(() => this.events.emit(SUBSCRIBER_LEFT, channelId));
      }
    });
  }

  @SubscribeMessage('subscribe')
  async subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Promise<SubscribeAck> {
    const { channel_id: channelId, subscribe_token: token } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof channelId !== 'string' || channelId.length === 0 || channelId.length > 200 || typeof token !== 'string') {
      return { ok: false, error: 'channel_id and subscribe_token are required' };
    }
    const check = verifySubscriptionToken(token, channelId, this.config.tokenSecret);
    if (!check.ok) {
      this.logger.warn(`refused subscription to channel ${channelId}: ${check.error}`);
      return { ok: false, error: check.error };
    }
    const subscribed = [...socket.rooms].filter((name) => channelOf(name) !== undefined).length;
    if (!socket.rooms.has(room(channelId)) && subscribed >= this.config.maxSubscriptionsPerSocket) {
      return { ok: false, error: 'too_many_subscriptions' };
    }
    if (!socket.rooms.has(room(channelId))) this.metrics.socketSubscriptions.inc();
    await socket.join(room(channelId));
    // Every instance must know the channel is watched before the stored view is read (see ChannelWatch).
    await this.watch.watch(channelId);
    return { ok: true, state: await this.snapshots.get(channelId) };
  }

  @SubscribeMessage('unsubscribe')
  async unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Promise<{ ok: true }> {
    const channelId = (body as { channel_id?: unknown } | undefined)?.channel_id;
    if (typeof channelId === 'string' && socket.rooms.has(room(channelId))) {
      await socket.leave(room(channelId));
      this.metrics.socketSubscriptions.dec();
      this.events.emit(SUBSCRIBER_LEFT, channelId);
    }
    return { ok: true };
  }

  emit<E extends AiServerEventName>(channelId: string, event: E, payload: AiEventPayload<E>): void {
    this.server.to(room(channelId)).emit(event, ...([payload] as Parameters<AiServerEvents[E]>));
  }

  /** Subscribers on every instance (the Redis adapter asks the others). */
  async subscribers(channelId: string): Promise<number> {
    return (await this.server.in(room(channelId)).fetchSockets()).length;
  }

}
