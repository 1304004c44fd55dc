import { IncomingMessage, Server } from 'node:http';
import { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebSocket, WebSocketServer } from 'ws';
import { verifySubscriptionToken } from '../ai/subscription-token';
import { isJsonObject } from '../common/json';
import { realtimeConfig, RealtimeConfig } from '../config/configuration';
import { ChannelSnapshotService } from './channel-snapshot.service';
import { ChannelWatch } from './channel-watch.service';
import { AiServerEventName } from './realtime-events';

const ROUTE = /^\/ws\/ai\/([A-Za-z0-9][A-Za-z0-9_.:-]{0,199})$/;
/** ModelRiver's statuses after which no response follows (docs/protocol.md §5). */
const TERMINAL = new Set(['completed', 'success', 'error']);
/** Once one of the two ends came (ModelRiver's terminal push, our outcome), how long to wait for the other. */
const LINGER_MS = 3000;
const POLICY_VIOLATION = 1008;

/**
 * `GET /ws/ai/:channel_id?token=<subscribe_token>`: the plain-WebSocket route of ModelRiver's FastAPI guide, for
 * frontends written against it. On the app's own port, fed by the same relay, publisher and channel state as
 * the socket.io gateway. Text frames, each one JSON object: first the channel's latest state
 * (`{"event":"state", …}`), then every ModelRiver `response` payload as ModelRiver sent it, and our own events
 * with their name in `event` (`ai:processing`, `ai:processed`, `ai:error`). The socket closes with 1000 once both
 * ModelRiver's terminal response and our outcome went out (they race: ModelRiver pushes when our callback reaches
 * it), or LINGER_MS after the first of them; a missing, forged or expired token closes it with 1008 before any data.
 */
@Injectable()
export class PlainSocketGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PlainSocketGateway.name);
  private readonly sockets = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly listeners = new Map<string, Set<WebSocket>>();
  /** Per socket: which ends it has seen, and the timer that closes it if the other does not come. */
  private readonly endings = new WeakMap<WebSocket, { upstream: boolean; ours: boolean; timer?: NodeJS.Timeout }>();
  /** Listeners pinged and not heard from since (see ping). */
  private readonly unanswered = new WeakSet<WebSocket>();
  private heartbeat?: NodeJS.Timeout;
  private server?: Server;

  constructor(
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly watch: ChannelWatch,
    private readonly snapshots: ChannelSnapshotService,
  ) {}

  onApplicationBootstrap(): void {
    this.server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.server.on('upgrade', this.upgrade);
    this.watch.onForwarded((channelId, event, payload) => this.deliverHere(channelId, event, payload));
    this.heartbeat = setInterval(() => this.ping(), this.config.pingIntervalMs).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.heartbeat);
    this.server?.off('upgrade', this.upgrade);
    for (const socket of this.sockets.clients) socket.close(1001, 'server shutting down');
    this.sockets.close();
  }

  /** An event published on a channel: to this instance's listeners, and to the other instances' if any listen. */
  deliver(channelId: string, event: AiServerEventName, payload: unknown): void {
    if (!this.watch.hasPlainListeners(channelId)) return;
    this.deliverHere(channelId, event, payload);
    this.watch.forward(channelId, event, payload);
  }

  private readonly upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = ROUTE.exec(url.pathname);
    if (!match) return; // socket.io's own path, or nothing of ours
    this.sockets.handleUpgrade(request, socket, head, (ws) => void this.open(ws, match[1], url.searchParams.get('token')));
  };

  /**
   * One timer for every listener: a WebSocket ping each REALTIME_PING_INTERVAL_MS (browsers answer it by themselves),
   * so that no proxy in between sees the connection idle while a generation takes its time; one that has not
   * answered the previous ping is gone (a dropped network, a suspended laptop) and is closed.
   */
  private ping(): void {
    for (const ws of this.sockets.clients) {
      if (this.unanswered.has(ws)) {
        this.logger.debug('plain WebSocket listener did not answer a ping: closed');
        ws.terminate();
        continue;
      }
      this.unanswered.add(ws);
      ws.ping();
    }
  }

  private async open(ws: WebSocket, channelId: string, token: string | null): Promise<void> {
    ws.on('pong', () => this.unanswered.delete(ws));
    const check = verifySubscriptionToken(token, channelId, this.config.tokenSecret);
    if (!check.ok) {
      ws.close(POLICY_VIOLATION, check.error);
      return;
    }
    const listeners = this.listeners.get(channelId) ?? new Set<WebSocket>();
    listeners.add(ws);
    this.listeners.set(channelId, listeners);
    ws.on('close', () => {
      listeners.delete(ws);
      if (listeners.size === 0) this.listeners.delete(channelId);
    });
    ws.on('error', () => undefined);
    // As for a socket.io subscriber: every instance learns of the listener before the stored view is read.
    await this.watch.watch(channelId, true);
    const state = await this.snapshots.get(channelId);
    this.send(ws, { event: 'state', ...state });
    const status = typeof state.status === 'string' ? state.status : undefined;
    if (status === 'completed' || status === 'failed') ws.close(1000, `request ${status}`);
  }

  private deliverHere(channelId: string, event: string, payload: unknown): void {
    const listeners = this.listeners.get(channelId);
    if (!listeners) return;
    const frame = event === 'ai:response' ? payload : { event, ...(isJsonObject(payload) ? payload : {}) };
    const status = isJsonObject(payload) && typeof payload.status === 'string' ? payload.status : undefined;
    const upstreamEnd = event === 'ai:response' && status !== undefined && TERMINAL.has(status);
    const ourEnd = event === 'ai:processed' || (event === 'ai:error' && isJsonObject(payload) && payload.source === 'processing');
    for (const ws of listeners) {
      this.send(ws, frame);
      if (upstreamEnd || ourEnd) this.ended(ws, upstreamEnd ? 'upstream' : 'ours');
    }
  }

  private ended(ws: WebSocket, which: 'upstream' | 'ours'): void {
    const seen = this.endings.get(ws) ?? { upstream: false, ours: false };
    seen[which] = true;
    this.endings.set(ws, seen);
    if (seen.upstream && seen.ours) {
      clearTimeout(seen.timer);
      ws.close(1000, 'request ended');
    } else {
      seen.timer ??= setTimeout(() => ws.close(1000, 'request ended'), LINGER_MS).unref();
    }
  }

  private send(ws: WebSocket, frame: unknown): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(frame), (error) => error && this.logger.debug(`plain WebSocket send failed: ${error.message}`));
  }
}
