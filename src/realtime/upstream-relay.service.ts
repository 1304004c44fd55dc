import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Channel, Socket } from 'phoenix';
import { WebSocket } from 'ws';
import { AiService } from '../ai/ai.service';
import { isJsonObject } from '../common/json';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ModelRiverTriggerClient } from '../modelriver/modelriver-trigger.client';
import { AiGateway } from './ai.gateway';
import { RealtimePublisher } from './realtime.publisher';

const TERMINAL = new Set(['completed', 'success', 'error', 'failed']);
const MAX_RECONNECTS = 3;
const JOIN_TIMEOUT_MS = 10_000;
/**
 * After our processing ends with nobody listening, ModelRiver's terminal push (sent when it receives our
 * callback) is still on its way: wait this long for it before closing, so late subscribers can replay it.
 */
const LINGER_MS = 3000;

interface Upstream {
  channelId: string;
  websocketUrl: string;
  topic: string;
  socket?: Socket;
  channel?: Channel;
  closing: boolean;
  /** Our own processing finished (processed or failed). */
  requestEnded: boolean;
  reconnects: number;
  idle?: NodeJS.Timeout;
  linger?: NodeJS.Timeout;
}

/**
 * A readable message from a ModelRiver error, in any of the shapes seen: `{error: {message, details?}}` (what the
 * official SDK reads), `{message}` (the channel's `error` event), `{error: "<code>", message}`, or `{error: "…"}`.
 */
export function upstreamErrorMessage(payload: unknown): string {
  if (!isJsonObject(payload)) return 'ModelRiver reported an error';
  const { error, message } = payload;
  if (isJsonObject(error) && typeof error.message === 'string' && error.message) return error.message;
  if (typeof message === 'string' && message) return message;
  if (typeof error === 'string' && error) return error;
  return 'ModelRiver reported an error';
}

/** docs/protocol.md §5: append /socket unless the URL ends with it; the Phoenix client appends /websocket. */
export const socketEndpoint = (websocketUrl: string) =>
  websocketUrl.replace(/\/+$/, '').endsWith('/socket') ? websocketUrl.replace(/\/+$/, '') : `${websocketUrl.replace(/\/+$/, '')}/socket`;

/**
 * One upstream Phoenix connection per channel, opened as soon as a request starts (pushes sent before anyone
 * joins are lost), with the official `phoenix` client over `ws` (vsn 2.0.0). It relays every `response` to the
 * channel's subscribers, and closes on a terminal status, when the request ended and nobody listens, or when idle.
 * A dropped connection is reopened with a fresh token from ModelRiver's reconnect endpoint, a few times; after
 * that, subscribers still get our own events from the worker.
 */
@Injectable()
export class UpstreamRelay implements OnApplicationShutdown {
  private readonly logger = new Logger(UpstreamRelay.name);
  private readonly upstreams = new Map<string, Upstream>();

  constructor(
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    private readonly publisher: RealtimePublisher,
    private readonly gateway: AiGateway,
    private readonly trigger: ModelRiverTriggerClient,
    private readonly requests: AiService,
    private readonly metrics: MetricsService,
  ) {}

  follow(channelId: string, wsToken: string, websocketUrl: string, topic: string): void {
    if (this.upstreams.has(channelId)) return;
    const upstream: Upstream = { channelId, websocketUrl, topic, closing: false, requestEnded: false, reconnects: 0 };
    this.upstreams.set(channelId, upstream);
    this.metrics.upstreamConnections.set(this.upstreams.size);
    this.connect(upstream, wsToken);
  }

  /** Our processing finished: the upstream is no longer needed once nobody is listening. */
  requestEnded(channelId: string): void {
    const upstream = this.upstreams.get(channelId);
    if (!upstream) return;
    upstream.requestEnded = true;
    this.closeIfUnused(upstream);
  }

  subscriberLeft(channelId: string): void {
    const upstream = this.upstreams.get(channelId);
    if (upstream) this.closeIfUnused(upstream);
  }

  onApplicationShutdown(): void {
    for (const upstream of this.upstreams.values()) this.close(upstream, 'shutdown');
  }

  private closeIfUnused(upstream: Upstream): void {
    if (!upstream.requestEnded || upstream.linger || upstream.closing) return;
    upstream.linger = setTimeout(() => {
      upstream.linger = undefined;
      void this.gateway
        .subscribers(upstream.channelId)
        .then((count) => count === 0 && this.close(upstream, 'request ended, no subscribers'))
        .catch(() => undefined);
    }, LINGER_MS);
    upstream.linger.unref();
  }

  private connect(upstream: Upstream, token: string): void {
    const socket = new Socket(socketEndpoint(upstream.websocketUrl), {
      transport: WebSocket as unknown as new (endpoint: string) => object,
      params: { token },
      vsn: '2.0.0',
      timeout: JOIN_TIMEOUT_MS,
      // ws_tokens are single use: the client must not reconnect with the old one; we reconnect ourselves.
      reconnectAfterMs: () => 2 ** 30,
      rejoinAfterMs: (tries: number) => [1000, 2000, 5000][tries - 1] ?? 10_000,
    });
    const channel = socket.channel(upstream.topic, {});
    upstream.socket = socket;
    upstream.channel = channel;
    this.touch(upstream);

    channel.on('response', (payload: Record<string, unknown>) => this.relay(upstream, payload));
    channel.on('error', (payload: unknown) => {
      this.touch(upstream);
      void this.publisher.upstreamError(upstream.channelId, upstreamErrorMessage(payload));
    });
    socket.onClose(() => {
      if (upstream.closing || upstream.socket !== socket) return;
      socket.disconnect();
      void this.reconnect(upstream);
    });
    socket.connect();
    channel
      .join()
      .receive('ok', () => this.logger.log(`following channel ${upstream.channelId} upstream`))
      .receive('error', (reason: unknown) => {
        this.logger.warn(`upstream join refused for channel ${upstream.channelId}: ${JSON.stringify(reason)}`);
        this.close(upstream, 'join refused');
      })
      .receive('timeout', () => this.logger.warn(`upstream join timed out for channel ${upstream.channelId}; retrying`));
  }

  private relay(upstream: Upstream, payload: Record<string, unknown>): void {
    this.touch(upstream);
    const status = typeof payload?.status === 'string' ? payload.status : undefined;
    void this.publisher.upstreamResponse(upstream.channelId, payload);
    // An error response is relayed as it came, and as our ai:error with a readable message, whichever shape it had.
    if (status === 'error') void this.publisher.upstreamError(upstream.channelId, upstreamErrorMessage(payload));
    if (status === 'ai_generated') {
      void this.requests.recordUpstreamStatus(upstream.channelId, 'ai_generated').catch(() => undefined);
    }
    if (status && TERMINAL.has(status)) this.close(upstream, `terminal status ${status}`);
  }

  private async reconnect(upstream: Upstream): Promise<void> {
    if (upstream.closing) return;
    if (upstream.reconnects >= MAX_RECONNECTS) {
      this.logger.warn(`upstream for channel ${upstream.channelId} lost after ${MAX_RECONNECTS} reconnects; our own events continue`);
      this.close(upstream, 'reconnects exhausted');
      return;
    }
    upstream.reconnects++;
    await new Promise((resolve) => setTimeout(resolve, 500 * upstream.reconnects));
    if (upstream.closing) return;
    try {
      const fresh = await this.trigger.reconnect(upstream.channelId);
      if (typeof fresh.ws_token !== 'string') throw new Error('no ws_token in the reconnect answer');
      if (typeof fresh.websocket_url === 'string') upstream.websocketUrl = fresh.websocket_url;
      this.connect(upstream, fresh.ws_token);
    } catch (error) {
      // The request may have finished upstream (410) or the endpoint may be down: the worker's events remain.
      this.logger.warn(`upstream reconnect for channel ${upstream.channelId} failed: ${error instanceof Error ? error.message : String(error)}`);
      this.close(upstream, 'reconnect failed');
    }
  }

  private touch(upstream: Upstream): void {
    clearTimeout(upstream.idle);
    upstream.idle = setTimeout(() => this.close(upstream, 'idle'), this.config.upstreamIdleMs);
    upstream.idle.unref();
  }

  private close(upstream: Upstream, reason: string): void {
    if (upstream.closing) return;
    upstream.closing = true;
    clearTimeout(upstream.idle);
    clearTimeout(upstream.linger);
    this.upstreams.delete(upstream.channelId);
    this.metrics.upstreamConnections.set(this.upstreams.size);
    upstream.channel?.leave();
    upstream.socket?.disconnect();
    this.logger.log(`closed upstream for channel ${upstream.channelId}: ${reason}`);
  }
}
